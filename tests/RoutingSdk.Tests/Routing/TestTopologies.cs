using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Routing;

internal static class TestTopologies
{
    public const string Cs = "Host=127.0.0.1;Port=5432;Database=erp;Username=app;Password=secret";

    public static RoutingOptions Standard(DefaultRoute defaultRoute = DefaultRoute.ReadReplica) => new()
    {
        DefaultRoute = defaultRoute,
        Pools =
        [
            new() { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = Cs, Priority = 1 },
            new() { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = Cs.Replace("5432", "5433"), Priority = 100, UsageRatio = 1 },
            new() { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = Cs.Replace("5432", "5434"), Priority = 100, UsageRatio = 3 },
            new() { Name = "async1", Role = PoolRole.AsyncReplica, ConnectionString = Cs.Replace("5432", "5435") },
        ],
    };

    public static (QueryRouter Router, RoutingTopology Topology, PoolHealthRegistry Health) Router(RoutingOptions options, int seed = 42)
    {
        var health = new PoolHealthRegistry();
        var topology = RoutingTopology.Build(options, health);
        return (new QueryRouter(topology, random: new Random(seed)), topology, health);
    }
}
