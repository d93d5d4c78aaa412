using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.DependencyInjection;

[Collection(ClusterCollection.Name)]
public sealed class RoutedServiceIntegrationTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    private (ServiceProvider Provider, IConfigurationRoot Configuration) Build(string defaultRoute = "ReadReplica")
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:DefaultRoute"] = defaultRoute,
            ["Routing:Pools:0:Name"] = "WritePool", ["Routing:Pools:0:Role"] = "Primary", ["Routing:Pools:0:ConnectionString"] = _cluster.PrimaryConnectionString,
            ["Routing:Pools:1:Name"] = "sync1", ["Routing:Pools:1:Role"] = "SyncReplica", ["Routing:Pools:1:ConnectionString"] = _cluster.Sync1ConnectionString,
            ["Routing:Pools:2:Name"] = "sync2", ["Routing:Pools:2:Role"] = "SyncReplica", ["Routing:Pools:2:ConnectionString"] = _cluster.Sync2ConnectionString,
            ["Routing:Pools:3:Name"] = "async1", ["Routing:Pools:3:Role"] = "AsyncReplica", ["Routing:Pools:3:ConnectionString"] = _cluster.Async1ConnectionString,
        }).Build();
        var services = new ServiceCollection();
        services.AddQueryRouting(configuration.GetSection("Routing"))
            .AddRoutedServicesFromAssembly(typeof(SalesReport).Assembly);
        services.AddScoped<ICustomerCard, CustomerCard>();
        services.AddDbContextPool<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        return (services.BuildServiceProvider(validateScopes: true), configuration);
    }

    private static async Task<string> CallAsync<TService>(IServiceProvider sp, Func<TService, Task<string>> call)
        where TService : notnull
    {
        await using var scope = sp.CreateAsyncScope();
        return await call(scope.ServiceProvider.GetRequiredService<TService>());
    }

    [Fact]
    public async Task Each_annotated_service_reads_from_the_node_of_its_route()
    {
        var (sp, _) = Build();
        await using var _ = sp;
        Assert.Contains(await CallAsync<ISalesReport>(sp, s => s.NodeAsync()), new[] { "sync1", "sync2" });
        Assert.Equal("async1", await CallAsync<IInvoicePrintForm>(sp, s => s.NodeAsync()));
        Assert.Equal("primary", await CallAsync<IOrderEntry>(sp, s => s.NodeAsync()));
        Assert.Contains(await CallAsync<ICustomerCard>(sp, s => s.NodeAsync()), new[] { "sync1", "sync2" });
        // Nesting: the MasterOnly interface keeps the report it calls on the primary.
        Assert.Equal("primary", await CallAsync<IOrderEntry>(sp, s => s.ReportNodeAsync()));
    }

    [Fact]
    public async Task Unannotated_service_stays_on_the_primary_under_DefaultRoute_Master()
    {
        var (sp, _) = Build(defaultRoute: "Master");
        await using var _ = sp;
        Assert.Equal("primary", await CallAsync<ICustomerCard>(sp, s => s.NodeAsync()));
        Assert.Contains(await CallAsync<ISalesReport>(sp, s => s.NodeAsync()), new[] { "sync1", "sync2" });
    }

    [Fact]
    public async Task Override_turning_reports_off_replicas_applies_to_the_next_call_without_restart()
    {
        var (sp, configuration) = Build();
        await using var _ = sp;
        Assert.Contains(await CallAsync<ISalesReport>(sp, s => s.NodeAsync()), new[] { "sync1", "sync2" });

        configuration["Routing:Overrides:Categories:Report:Route"] = "MasterOnly";
        configuration.Reload();
        Assert.Equal("primary", await CallAsync<ISalesReport>(sp, s => s.NodeAsync()));
        Assert.Equal("async1", await CallAsync<IInvoicePrintForm>(sp, s => s.NodeAsync())); // print forms untouched
    }

    [Fact]
    public async Task Two_hundred_concurrent_calls_mixing_the_four_routes_each_land_on_their_own_node()
    {
        var (sp, _) = Build();
        await using var _ = sp;
        var calls = Enumerable.Range(0, 200).Select(i => Task.Run<(string Kind, string Node)>(async () => (i % 4) switch
        {
            0 => ("sync", await CallAsync<ISalesReport>(sp, s => s.NodeAsync())),
            1 => ("async1", await CallAsync<IInvoicePrintForm>(sp, s => s.NodeAsync())),
            2 => ("primary", await CallAsync<IOrderEntry>(sp, s => s.NodeAsync())),
            _ => ("sync", await CallAsync<ICustomerCard>(sp, s => s.NodeAsync())),
        }));
        var results = await Task.WhenAll(calls);
        Assert.All(results, r => Assert.True(r.Kind == "sync" ? r.Node is "sync1" or "sync2" : r.Node == r.Kind, $"expected {r.Kind}, ran on {r.Node}"));
    }

    [Fact]
    public async Task Stream_consumed_after_the_method_returned_reads_from_the_method_route()
    {
        var (sp, _) = Build(defaultRoute: "Master");
        await using var _ = sp;
        await using var scope = sp.CreateAsyncScope();
        var stream = scope.ServiceProvider.GetRequiredService<ISalesReport>().StreamNodesAsync();
        var nodes = new List<string>();
        await foreach (var node in stream)
        {
            nodes.Add(node);
        }

        Assert.Equal(3, nodes.Count);
        Assert.All(nodes, n => Assert.Contains(n, new[] { "sync1", "sync2" }));
    }
}
