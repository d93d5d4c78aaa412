using ErpReports.Model;
using ErpReports.Operations;
using ErpReports.Workload;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RoutingSdk;

// ErpReports: an ERP slice whose business operations are routed by RoutingSdk.
//   dotnet run --project samples/ErpReports -- [--duration 20] [--concurrency 8] [--json result.json] [--config global3config.xml] [--orders 12000] [--web 5080]
var arguments = SampleArguments.Parse(args);
if (arguments.Error is not null)
{
    Console.Error.WriteLine(arguments.Error);
    Console.Error.WriteLine(SampleArguments.Usage);
    return 2;
}

// With --web the same services run in an ASP.NET Core host that also serves RoutingSdk's operations page.
WebApplicationBuilder? web = arguments.WebPort is { } port
    ? WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory })
    : null;
web?.WebHost.UseUrls($"http://127.0.0.1:{arguments.WebPort}");
IHostApplicationBuilder builder = web ?? (IHostApplicationBuilder)Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Critical); // the cancelled nightly statement is EF Core's error; the table reports the retry
builder.Logging.AddFilter("RoutingSdk", LogLevel.Error); // the run's table reports retries and fallbacks
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

var routing = arguments.ConfigPath is null
    ? builder.Services.AddQueryRouting(builder.Configuration.GetSection("Routing"))
    : builder.Services.AddQueryRouting(o =>
        {
            // What appsettings.json sets besides the pools: the XML describes pools only.
            o.Health.Interval = TimeSpan.FromMilliseconds(500);
            o.Consistency.ReadYourWritesMaxWait = TimeSpan.FromMilliseconds(100);
        }).AddGlobalErpConfiguration(arguments.ConfigPath);
routing.AddRoutedServicesFromAssembly(typeof(Program).Assembly);
builder.Services.AddScoped<ICustomerCard, CustomerCard>();

var recorder = new DecisionRecorder();
builder.Services.AddSingleton<IRouteDecisionObserver>(recorder);
builder.Services.AddDbContextPool<ErpDb>((sp, o) => o
    .UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString)
    .UseQueryRouting(sp));

using IHost host = web is null ? ((HostApplicationBuilder)builder).Build() : web.Build();
if (host is WebApplication app)
{
    // A local demo: read-only and anonymous by explicit opt-in. A real host sets ViewPolicy and SwitchPolicy (docs/operations.md).
    app.MapQueryRoutingDashboard("/routing", o => o.AllowAnonymousReadOnly = true);
}

try
{
    await host.StartAsync(); // validates the routing options and starts the health monitor
}
catch (Exception ex) when (ex is RoutingConfigurationException or Microsoft.Extensions.Options.OptionsValidationException)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}

var pools = host.Services.GetRequiredService<RoutingPools>();
var routingTenants = host.Services.GetRequiredService<RoutingTenants>();
Console.WriteLine($"Pools: {string.Join(", ", pools.GetStatus().Select(p => $"{(p.Cluster is null ? "" : p.Cluster + "/")}{p.Name} {p.Endpoint} [{p.Role}]"))}");

// The nodes whose pg_stat_statements the run reads, labelled like RoutingSdk's decisions ("cluster/pool" with several clusters).
var nodes = SampleTenants.Nodes(builder.Configuration.GetSection("Nodes"), routingTenants, out var nodeError);
if (nodeError is not null)
{
    Console.Error.WriteLine(nodeError);
    await host.StopAsync();
    return 1;
}

// Each cluster gets the schema and data once, seeded through one of its tenants (the default cluster also without one).
var tenants = new List<SampleTenant>();
var orders = 0;
foreach (var (cluster, clusterTenants) in SampleTenants.ByCluster(builder.Configuration.GetSection("Routing:Tenants:Map"), routingTenants))
{
    using var tenantScope = clusterTenants[0] is { } first ? TenantScope.Begin(first) : null;
    await using var scope = host.Services.CreateAsyncScope();
    var db = scope.ServiceProvider.GetRequiredService<ErpDb>();
    Console.WriteLine($"Preparing data{(cluster.Length == 0 ? "" : $" on cluster {cluster} (tenants {string.Join(", ", clusterTenants)})")} (at least {arguments.Orders:N0} sales orders)...");
    orders += await Seeder.EnsureAsync(db, arguments.Orders, CancellationToken.None);
    using var _ = RoutingScope.Begin(RouteKind.MasterOnly, "Setup.Counts");
    var customers = await db.Customers.CountAsync();
    var maxInvoice = await db.Invoices.MaxAsync(i => i.Id);
    tenants.AddRange(clusterTenants.Select(t => new SampleTenant(t, cluster, customers, maxInvoice)));
}

if (tenants.Count == 0)
{
    Console.Error.WriteLine("Routing:Tenants:Map is empty: the sample runs its workload per tenant. Map at least one tenant to a cluster (Routing:Tenants:Map:<tenant> = <cluster>).");
    await host.StopAsync();
    return 1;
}

// Asynchronous replicas replay with a delay; a first run's fresh schema must reach them before old invoices are printed there.
var deadline = DateTime.UtcNow.AddSeconds(60);
while (pools.GetStatus().Any(p => p.Role == PoolRole.AsyncReplica && p.IsAvailable && !(p.LagMilliseconds == 0)) && DateTime.UtcNow < deadline)
{
    await Task.Delay(200);
}

if (arguments.WebPort is not null)
{
    Console.WriteLine($"Operations page: http://127.0.0.1:{arguments.WebPort}/routing (served until you press Ctrl+C)");
}

Console.WriteLine($"{orders:N0} sales orders{(routingTenants.IsMultiCluster ? $" on {routingTenants.Clusters.Count} clusters, tenants {string.Join(", ", tenants.Select(t => $"{t.Name} ({t.Cluster})"))}" : "")}. "
    + $"Running the workload for {arguments.Duration.TotalSeconds:F0} s with {arguments.Concurrency} workers:");
var runner = new WorkloadRunner(host.Services, recorder, new ServerStatistics(nodes), tenants);
var result = await runner.RunAsync(new WorkloadOptions(arguments.Duration, arguments.Concurrency), CancellationToken.None);

Console.WriteLine();
var clusterOrder = tenants.Select(t => t.Cluster).Distinct().ToList(); // the tenants' order: shared first
var poolLabels = pools.GetStatus().OrderBy(p => clusterOrder.IndexOf(p.Cluster ?? "")).Select(p => p.Cluster is null ? p.Name : $"{p.Cluster}/{p.Name}").ToList();
Console.WriteLine(result.ToTable(poolLabels, nodes.Keys.ToList()));
if (arguments.JsonPath is not null)
{
    await File.WriteAllTextAsync(arguments.JsonPath, result.ToJson());
    Console.WriteLine($"Wrote {arguments.JsonPath}");
}

if (host is WebApplication)
{
    // A newcomer opens the page after the table is printed: keep serving it (and the live health of every pool) until
    // Ctrl+C or SIGTERM, which the host's console lifetime turns into a graceful stop.
    Console.WriteLine($"The workload is done; the operations page stays up at http://127.0.0.1:{arguments.WebPort}/routing. Press Ctrl+C to stop.");
    await host.WaitForShutdownAsync(); // stops the host
}
else
{
    await host.StopAsync();
}

return result.Errors.Count == 0 ? 0 : 1;

internal sealed record SampleArguments(TimeSpan Duration, int Concurrency, string? JsonPath, string? ConfigPath, int Orders, string? Error, int? WebPort = null)
{
    public const string Usage = "usage: ErpReports [--duration <seconds>] [--concurrency <workers>] [--json <file>] [--config <global3config.xml>] [--orders <count>] [--web <port>]";

    public static SampleArguments Parse(string[] args)
    {
        var result = new SampleArguments(TimeSpan.FromSeconds(20), 8, null, null, 12_000, null);
        for (var i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--duration" when int.TryParse(Next(), out var seconds) && seconds > 0:
                    result = result with { Duration = TimeSpan.FromSeconds(seconds) };
                    break;
                case "--concurrency" when int.TryParse(Next(), out var workers) && workers is > 0 and <= 256:
                    result = result with { Concurrency = workers };
                    break;
                case "--orders" when int.TryParse(Next(), out var count) && count >= 100:
                    result = result with { Orders = count };
                    break;
                case "--json" when Next() is { } json:
                    result = result with { JsonPath = json };
                    break;
                case "--web" when int.TryParse(Next(), out var webPort) && webPort is > 0 and < 65536:
                    result = result with { WebPort = webPort };
                    break;
                case "--config" when Next() is { } config:
                    result = result with { ConfigPath = Path.GetFullPath(config) };
                    break;
                default:
                    return result with { Error = $"Unknown or invalid argument '{args[i]}' (durations and counts must be positive whole numbers; concurrency at most 256; --web takes a port, e.g. --web 5080)." };
            }
        }

        return result;
    }
}
