using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Routing;

/// <summary>The operations page's switches: applied at once through the overrides, kept across configuration reloads, never loosening configuration.</summary>
public sealed class RuntimeSwitchTests
{
    private static (IConfigurationRoot Configuration, ServiceProvider Provider, QueryRouter Router) Create()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:Health:Enabled"] = "false", ["Routing:Pools:0:Name"] = "WritePool", ["Routing:Pools:0:Role"] = "Primary", ["Routing:Pools:0:ConnectionString"] = "Host=db",
            ["Routing:Pools:1:Name"] = "sync1", ["Routing:Pools:1:ConnectionString"] = "Host=r1",
            ["Routing:Overrides:Categories:PrintForm:Route"] = "MasterOnly",
        }).Build();
        var provider = new ServiceCollection().AddQueryRouting(configuration.GetSection("Routing")).Services.BuildServiceProvider();
        return (configuration, provider, provider.GetRequiredService<QueryRouter>());
    }

    private static RouteDecision Read(QueryRouter router, RoutingCategory category, string scenario)
    {
        using var scope = RoutingScope.Begin(RouteKind.ReadReplica, scenario, category);
        return router.Decide(RouteRequest.Read, scope);
    }

    [Fact]
    public void A_category_switch_sends_its_reads_to_the_primary_at_once_and_survives_a_reload()
    {
        var (configuration, provider, router) = Create();
        using var _ = provider;
        Assert.Equal("sync1", Read(router, RoutingCategory.Report, "Sales.Report").PoolName);

        Assert.True(router.SetRuntimeSwitch(RoutingCategory.Report, null, toPrimary: true));
        var switched = Read(router, RoutingCategory.Report, "Sales.Report");
        Assert.Equal("WritePool", switched.PoolName);
        Assert.Equal(RouteDecisionReason.OverriddenByConfiguration, switched.Reason);
        Assert.Equal("sync1", Read(router, RoutingCategory.Interface, "Order.Form").PoolName);

        configuration["Routing:Pools:1:UsageRatio"] = "2";
        configuration.Reload();
        Assert.Equal(2.0, router.Topology.FindPool("sync1")!.UsageRatio); // the reload arrived...
        Assert.Equal("WritePool", Read(router, RoutingCategory.Report, "Sales.Report").PoolName); // ...and the switch stayed

        Assert.True(router.SetRuntimeSwitch(RoutingCategory.Report, null, toPrimary: false));
        Assert.Equal("sync1", Read(router, RoutingCategory.Report, "Sales.Report").PoolName);
        Assert.Empty(router.PrimaryCategories);
    }

    [Fact]
    public void Taking_a_switch_back_never_loosens_configuration_and_scenario_switches_are_separate()
    {
        var (_, provider, router) = Create();
        using var _ = provider;
        Assert.True(router.SetRuntimeSwitch(RoutingCategory.PrintForm, null, toPrimary: true));
        Assert.True(router.SetRuntimeSwitch(RoutingCategory.PrintForm, null, toPrimary: false));
        Assert.Equal("WritePool", Read(router, RoutingCategory.PrintForm, "Invoice.Print").PoolName); // configured MasterOnly stays
        Assert.Equal(RouteKind.MasterOnly, router.ConfiguredOptions!.Overrides.Categories[RoutingCategory.PrintForm].Route);

        Assert.True(router.SetRuntimeSwitch(null, "Stock.Report", toPrimary: true));
        Assert.Equal("WritePool", Read(router, RoutingCategory.Report, "Stock.Report").PoolName);
        Assert.Equal("sync1", Read(router, RoutingCategory.Report, "Sales.Report").PoolName);
        Assert.Equal(["Stock.Report"], router.PrimaryScenarios);
        Assert.False(router.ConfiguredOptions.Overrides.Scenarios.ContainsKey("Stock.Report")); // configuration itself is untouched
    }

    [Fact]
    public void A_rejected_configuration_reload_does_not_become_what_switches_are_applied_to()
    {
        var (configuration, provider, router) = Create();
        using var _ = provider;
        configuration["Routing:Pools:1:UsageRatio"] = "-2"; // invalid: rejected, the previous configuration stays
        configuration.Reload();

        Assert.True(router.SetRuntimeSwitch(RoutingCategory.Report, null, toPrimary: true));
        Assert.Equal("WritePool", Read(router, RoutingCategory.Report, "Sales.Report").PoolName);
        Assert.Equal(1.0, router.ConfiguredOptions!.Pools[1].UsageRatio);
    }
}
