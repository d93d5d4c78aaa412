using BenchmarkDotNet.Attributes;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Benchmarks.Routing;

/// <summary>The cost of one routing decision on the hot path (target: ≤ 100 ns, 0 bytes).</summary>
[MemoryDiagnoser]
public class DecisionBenchmarks
{
    private QueryRouter _router = null!;
    private RoutingScope _readScope = null!;
    private RoutingScope _asyncScope = null!;

    [GlobalSetup]
    public void Setup()
    {
        const string cs = "Host=127.0.0.1;Port=5432;Database=erp;Username=app";
        var options = new RoutingOptions
        {
            Pools =
            [
                new() { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = cs },
                new() { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = cs, Priority = 100, UsageRatio = 1 },
                new() { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = cs, Priority = 100, UsageRatio = 3 },
                new() { Name = "async1", Role = PoolRole.AsyncReplica, ConnectionString = cs },
            ],
        };
        options.Overrides.Categories[RoutingCategory.PrintForm] = new RouteOverride { Route = RouteKind.MasterOnly };
        _router = new QueryRouter(RoutingTopology.Build(options, new PoolHealthRegistry()));
        _readScope = RoutingScope.Begin(RouteKind.ReadReplica, "SalesReport.Build", RoutingCategory.Report);
        _readScope.Dispose();
        _asyncScope = RoutingScope.Begin(RouteKind.AsyncReplica, "Invoice.Print", RoutingCategory.Other);
        _asyncScope.Dispose();
    }

    [Benchmark(Baseline = true)]
    public RouteDecision Write() => _router.Decide(RouteRequest.Write, null);

    [Benchmark]
    public RouteDecision UnscopedRead() => _router.Decide(RouteRequest.Read, null);

    [Benchmark]
    public RouteDecision ReportRead() => _router.Decide(RouteRequest.Read, _readScope);

    [Benchmark]
    public RouteDecision AsyncReplicaRead() => _router.Decide(RouteRequest.Read, _asyncScope);

    [Benchmark]
    public RouteDecision ReadInTransaction() => _router.Decide(RouteRequest.Transaction, _readScope);
}
