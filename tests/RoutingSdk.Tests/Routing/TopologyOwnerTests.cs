using Microsoft.Extensions.Logging.Abstractions;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Routing;

/// <summary>The one place the topology changes: reloads, discovery switched on and off, data-source lifetime.</summary>
public sealed class TopologyOwnerTests
{
    private static (TopologyOwner Owner, PoolHealthRegistry Health, PoolDataSources DataSources) Owner(RoutingOptions options)
    {
        var health = new PoolHealthRegistry();
        var dataSources = new PoolDataSources();
        var owner = new TopologyOwner(RoutingTopology.Build(options, health, dataSources), dataSources, NullLogger.Instance);
        Assert.True(owner.Reload(options, health));
        return (owner, health, dataSources);
    }

    [Fact]
    public void A_pool_whose_connection_string_changed_gets_a_new_data_source_and_the_old_one_is_retired()
    {
        var options = TestTopologies.Standard();
        var (owner, health, dataSources) = Owner(options);
        var sync1 = owner.Topology.FindPool("sync1")!;
        var old = sync1.DataSource;

        // The node moved (a Kubernetes reschedule, a Patroni member on a new host).
        var moved = TestTopologies.Standard();
        moved.Pools[1].ConnectionString = TestTopologies.Cs.Replace("5432", "6433");
        Assert.True(owner.Reload(moved, health));

        var now = owner.Topology.FindPool("sync1")!;
        Assert.NotSame(old, now.DataSource);
        Assert.NotSame(old, dataSources.For("sync1", sync1.ConnectionString)); // the old key no longer hands out the retired source

        // Pools that did not change keep their data source.
        var write = owner.Topology.FindPool("WritePool")!;
        Assert.Same(write.DataSource, dataSources.For("WritePool", write.ConnectionString));
    }

    [Fact]
    public void Discovery_switched_on_by_a_reload_keeps_the_configured_pools_until_Patroni_answers_and_off_stops_it()
    {
        var (owner, health, _) = Owner(TestTopologies.Standard());
        var withDiscovery = new RoutingOptions();
        withDiscovery.Discovery.Patroni.Endpoints = ["http://127.0.0.1:9"]; // nothing answers there
        withDiscovery.Discovery.Patroni.Template = new RoutingPoolOptions { ConnectionString = "Database=erp;Username=app" };

        Assert.True(owner.Reload(withDiscovery, health));
        Assert.Equal(["WritePool", "sync1", "sync2", "async1"], owner.Topology.Pools.Select(p => p.Name)); // no outage meanwhile
        Assert.NotNull(owner.DiscoveryState);

        Assert.True(owner.Reload(TestTopologies.Standard(), health));
        Assert.Null(owner.DiscoveryState); // the poller is stopped: it can no longer replace the configured pools
        Assert.False(owner.Topology.Discovered);
        owner.Dispose();
    }
}
