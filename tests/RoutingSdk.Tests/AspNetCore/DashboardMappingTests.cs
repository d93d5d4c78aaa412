using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoutingSdk.AspNetCore.Dashboard;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.AspNetCore;

/// <summary>The page refuses to start unprotected, names each missing piece, and serves read-only when explicitly allowed.</summary>
public sealed class DashboardMappingTests
{
    private static WebApplication App(Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "primary", Role = PoolRole.Primary, ConnectionString = "Host=127.0.0.1;Port=1;Password=Hunter2-secret" });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = "Host=127.0.0.1;Port=2;Password=Hunter2-secret" });
            o.Overrides.Categories[RoutingCategory.PrintForm] = new RouteOverride { Route = RouteKind.MasterOnly };
        });
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    [Fact]
    public async Task Without_a_policy_the_map_call_fails_and_names_the_fix()
    {
        await using var app = App();
        var ex = Assert.Throws<InvalidOperationException>(() => app.MapQueryRoutingDashboard("/routing"));
        Assert.Contains("o.ViewPolicy", ex.Message);
        Assert.Contains("AllowAnonymousReadOnly", ex.Message);
    }

    [Fact]
    public async Task An_undefined_policy_or_missing_services_are_named()
    {
        await using var noAuthorization = App();
        Assert.Contains("services.AddAuthorization", Assert.Throws<InvalidOperationException>(() =>
            noAuthorization.MapQueryRoutingDashboard("/routing", o => o.ViewPolicy = "ops")).Message);

        await using var undefined = App(s => s.AddAuthorization());
        Assert.Contains("'ops' is not a defined authorization policy", Assert.Throws<InvalidOperationException>(() =>
            undefined.MapQueryRoutingDashboard("/routing", o => o.ViewPolicy = "ops")).Message);

        await using var noAntiforgery = App(s => s.AddAuthorization(o => o.AddPolicy("ops", p => p.RequireAuthenticatedUser())));
        Assert.Contains("services.AddAntiforgery()", Assert.Throws<InvalidOperationException>(() =>
            noAntiforgery.MapQueryRoutingDashboard("/routing", o => { o.ViewPolicy = "ops"; o.SwitchPolicy = "ops"; })).Message);
    }

    [Fact]
    public async Task Anonymous_read_only_serves_page_and_status_without_switches_or_passwords()
    {
        await using var app = App();
        app.MapQueryRoutingDashboard("/ops/routing", o => o.AllowAnonymousReadOnly = true);
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

        var page = await client.GetAsync("/ops/routing");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("name=\"routing-switches\" content=\"off\"", html);
        Assert.DoesNotContain("src=\"http", html); // self-contained
        Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single());

        var json = await client.GetStringAsync("/ops/routing/status");
        Assert.Contains("\"name\":\"sync1\"", json);
        Assert.Contains("\"endpoint\":\"127.0.0.1:2/", json);
        Assert.Contains("\"source\":\"configuration\"", json); // the configured PrintForm override is shown as such
        Assert.DoesNotContain("Hunter2", json);
        Assert.DoesNotContain("Hunter2", html);

        // No switch endpoint at all without a switch policy.
        var post = await client.PostAsync("/ops/routing/switches", new StringContent("{\"category\":\"Report\",\"toPrimary\":true}"));
        Assert.True(post.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed, post.StatusCode.ToString());
        Assert.Empty(app.Services.GetRequiredService<QueryRouter>().PrimaryCategories);
    }

    [Fact]
    public void Collector_counts_reads_per_pool_and_category_from_the_meter_and_keeps_events()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddQueryRouting(o =>
        {
            o.Health.Enabled = false; // the hosts do not exist: a monitor would evict sync1 while the test counts
            o.Pools.Add(new RoutingPoolOptions { Name = "primary", Role = PoolRole.Primary, ConnectionString = "Host=127.0.0.1;Port=1" });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = "Host=127.0.0.1;Port=2" });
        });
        using var provider = services.BuildServiceProvider();
        var router = provider.GetRequiredService<QueryRouter>();
        using var collector = new RoutingActivityCollector(router);
        using (RoutingScope.Begin(RouteKind.ReadReplica, "Sales.Report", RoutingCategory.Report))
        {
            for (var i = 0; i < 5; i++)
            {
                router.Decide(new RouteRequest(IsWrite: false, InTransaction: false));
            }

            router.Decide(new RouteRequest(IsWrite: true, InTransaction: false));
        }

        router.Metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", "sync1"));
        for (var i = 0; i < 200; i++)
        {
            router.Metrics.Retries.Add(1, new KeyValuePair<string, object?>("pool", "sync1"), new KeyValuePair<string, object?>("kind", "RecoveryConflict"));
        }

        collector.Roll();
        var (history, events, _, reads, offPrimary, writes) = collector.Snapshot();
        Assert.Equal(5, reads);
        Assert.Equal(5, offPrimary);
        Assert.Equal(1, writes);
        // The collector's own 1 s timer may have closed a second in between: count over the whole history.
        Assert.Equal(5, history.Sum(h => h.ByPool.GetValueOrDefault("sync1")));
        Assert.Equal(5, history.Sum(h => h.ByCategory.GetValueOrDefault("Report")));
        Assert.Equal(5, collector.ReadsByCategoryAndPool()["Report"]["sync1"]);
        // A burst is one row with its count, and the eviction before it is still listed.
        Assert.Equal(2, events.Length);
        Assert.Equal(("retry", 200, "RecoveryConflict"), (events[0].Kind, events[0].Count, events[0].Reason));
        Assert.Equal("eviction", events[1].Kind);
    }
}
