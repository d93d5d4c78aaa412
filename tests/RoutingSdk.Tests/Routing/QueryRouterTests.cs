using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Routing;

public sealed class QueryRouterTests
{
    private static readonly RouteKind[] AllRoutes = [RouteKind.Default, RouteKind.ReadReplica, RouteKind.AsyncReplica, RouteKind.MasterOnly];

    public static TheoryData<RouteKind> Routes => new(AllRoutes);

    private static RouteDecision Decide(QueryRouter router, RouteRequest request, RouteKind route, int? maxLag = null, RoutingCategory category = RoutingCategory.Other, string? scenario = null)
    {
        using var scope = RoutingScope.Begin(route, scenario, category, maxLag);
        return router.Decide(request, scope);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public void Write_goes_to_primary_in_every_route(RouteKind route)
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = Decide(router, RouteRequest.Write, route);
        Assert.Equal(("WritePool", RouteDecisionReason.WriteCommand), (d.PoolName, d.Reason));
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public void Statement_inside_transaction_goes_to_primary_in_every_route(RouteKind route)
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = Decide(router, RouteRequest.Transaction, route);
        Assert.Equal(("WritePool", RouteDecisionReason.InsideTransaction), (d.PoolName, d.Reason));
    }

    [Fact]
    public void A_retry_avoids_the_failed_replica_even_after_the_topology_was_rebuilt()
    {
        // The failed attempt's pool comes from an older topology (a reload or Patroni refresh happened in between):
        // the node is the same, the object is not.
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var older = RoutingTopology.Build(TestTopologies.Standard(), new PoolHealthRegistry());
        var failed = older.FindPool("sync2")!;
        for (var i = 0; i < 50; i++)
        {
            using var scope = RoutingScope.Begin(RouteKind.ReadReplica);
            Assert.Equal("sync1", router.Decide(RouteRequest.Read with { RetryAttempt = 1 }, scope, failed).PoolName);
        }
    }

    [Fact]
    public void A_lag_measured_too_long_ago_is_not_trusted()
    {
        // The monitor measured 10 ms of lag 10 s ago and has said nothing since (stalled): the replica may have fallen
        // far behind meanwhile, so an AsyncReplica read with a limit does not go there on that old word.
        var (router, topology, health) = TestTopologies.Router(TestTopologies.Standard());
        health.MaxLagAge = 3_000;
        var async1 = topology.FindPool("async1")!;
        async1.Health.ReportLag(10, measuredAt: Environment.TickCount64 - 10_000);
        var stale = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica, maxLag: 1_000);
        Assert.Equal(RouteDecisionReason.LagUnknown, stale.Reason);
        Assert.NotEqual("async1", stale.PoolName);

        async1.Health.ReportLag(10, measuredAt: Environment.TickCount64);
        Assert.Equal("async1", Decide(router, RouteRequest.Read, RouteKind.AsyncReplica, maxLag: 1_000).PoolName);
    }

    [Fact]
    public void A_connection_opened_by_the_caller_under_MasterOnly_says_so_in_its_reason()
    {
        // BeginTransaction under [MasterOnly] opens the connection outside an EF Core operation: it may write, and
        // the operations page counts it as a write.
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = Decide(router, new RouteRequest(false, false, UserOpenedConnection: true), RouteKind.MasterOnly);
        Assert.Equal(("WritePool", RouteDecisionReason.UserOpenedConnection), (d.PoolName, d.Reason));
        Assert.True(QueryRouter.MayWrite(d.Reason));
    }

    [Fact]
    public void Write_is_reported_before_transaction_when_both_hold()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = router.Decide(new RouteRequest(IsWrite: true, InTransaction: true), null);
        Assert.Equal(RouteDecisionReason.WriteCommand, d.Reason);
    }

    [Fact]
    public void MasterOnly_read_goes_to_primary()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = Decide(router, RouteRequest.Read, RouteKind.MasterOnly);
        Assert.Equal(("WritePool", RouteDecisionReason.MasterOnlyScope, RouteKind.MasterOnly), (d.PoolName, d.Reason, d.Route));
    }

    [Fact]
    public void Unscoped_read_under_DefaultRoute_ReadReplica_goes_to_a_sync_replica()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = router.Decide(RouteRequest.Read, null);
        Assert.Contains(d.PoolName, new[] { "sync1", "sync2" });
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.ReadOutsideTransaction, RouteKind.Default), (d.PoolRole, d.Reason, d.Route));
    }

    [Fact]
    public void Unscoped_read_under_DefaultRoute_Master_goes_to_primary()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard(DefaultRoute.Primary));
        var d = router.Decide(RouteRequest.Read, null);
        Assert.Equal(("WritePool", RouteDecisionReason.DefaultRouteMaster), (d.PoolName, d.Reason));
    }

    [Fact]
    public void ReadReplica_read_goes_to_a_sync_replica_even_under_DefaultRoute_Master()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard(DefaultRoute.Primary));
        var d = Decide(router, RouteRequest.Read, RouteKind.ReadReplica);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.ReadOutsideTransaction), (d.PoolRole, d.Reason));
    }

    [Theory]
    [InlineData(RouteKind.Default)]
    [InlineData(RouteKind.ReadReplica)]
    public void Async_replica_is_never_chosen_automatically(RouteKind route)
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        for (var i = 0; i < 2_000; i++)
        {
            Assert.NotEqual(PoolRole.AsyncReplica, Decide(router, RouteRequest.Read, route).PoolRole);
        }
    }

    [Fact]
    public void AsyncReplica_read_goes_to_the_async_pool_when_no_lag_limit_is_set()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica);
        Assert.Equal(("async1", RouteDecisionReason.AsyncReplicaRequested), (d.PoolName, d.Reason));
    }

    [Fact]
    public void AsyncReplica_read_within_lag_limit_goes_to_async_pool()
    {
        var (router, _, health) = TestTopologies.Router(TestTopologies.Standard());
        health.For("async1").ReportLag(200);
        var d = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica, maxLag: 500);
        Assert.Equal(("async1", RouteDecisionReason.AsyncReplicaRequested), (d.PoolName, d.Reason));
    }

    [Fact]
    public void AsyncReplica_read_above_lag_limit_falls_back_to_sync_replica_with_LagAboveLimit()
    {
        var (router, _, health) = TestTopologies.Router(TestTopologies.Standard());
        health.For("async1").ReportLag(2_000);
        var d = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica, maxLag: 500);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.LagAboveLimit), (d.PoolRole, d.Reason));
    }

    [Fact]
    public void AsyncReplica_read_with_limit_and_unknown_lag_falls_back_with_LagUnknown()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica, maxLag: 500);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.LagUnknown), (d.PoolRole, d.Reason));
    }

    [Fact]
    public void AsyncReplica_read_with_async_pool_down_falls_back_to_sync_replica()
    {
        var (router, _, health) = TestTopologies.Router(TestTopologies.Standard());
        health.For("async1").MarkUnavailable();
        var d = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.AsyncReplicasUnavailable), (d.PoolRole, d.Reason));
    }

    [Fact]
    public void AsyncReplica_read_with_every_replica_down_goes_to_primary()
    {
        var (router, _, health) = TestTopologies.Router(TestTopologies.Standard());
        foreach (var name in new[] { "async1", "sync1", "sync2" })
        {
            health.For(name).MarkUnavailable();
        }

        var d = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica);
        Assert.Equal(("WritePool", RouteDecisionReason.ReplicasUnavailable), (d.PoolName, d.Reason));
    }

    [Fact]
    public void Read_with_every_sync_replica_down_goes_to_primary_with_ReplicasUnavailable()
    {
        var (router, _, health) = TestTopologies.Router(TestTopologies.Standard());
        health.For("sync1").MarkUnavailable();
        health.For("sync2").MarkUnavailable();
        var d = Decide(router, RouteRequest.Read, RouteKind.ReadReplica);
        Assert.Equal(("WritePool", RouteDecisionReason.ReplicasUnavailable), (d.PoolName, d.Reason));
    }

    [Fact]
    public void Unavailable_replica_share_goes_to_the_other_replica_not_the_primary()
    {
        var (router, _, health) = TestTopologies.Router(TestTopologies.Standard());
        health.For("sync2").MarkUnavailable();
        for (var i = 0; i < 1_000; i++)
        {
            Assert.Equal("sync1", router.Decide(RouteRequest.Read, null).PoolName);
        }

        health.For("sync2").MarkAvailable();
        var seen = Enumerable.Range(0, 200).Select(_ => router.Decide(RouteRequest.Read, null).PoolName).ToHashSet();
        Assert.Equal(["sync1", "sync2"], seen.Order());
    }

    [Fact]
    public void Highest_priority_group_is_used_first_and_lower_group_only_when_it_is_down()
    {
        var options = TestTopologies.Standard();
        options.Pools.Add(new() { Name = "ReadVip", Role = PoolRole.SyncReplica, ConnectionString = TestTopologies.Cs, Priority = 10 });
        var (router, _, health) = TestTopologies.Router(options);
        Assert.All(Enumerable.Range(0, 500), _ => Assert.NotEqual("ReadVip", router.Decide(RouteRequest.Read, null).PoolName));

        health.For("sync1").MarkUnavailable();
        health.For("sync2").MarkUnavailable();
        Assert.Equal("ReadVip", router.Decide(RouteRequest.Read, null).PoolName);
    }

    [Fact]
    public void Primary_that_accepts_no_tx_sessions_takes_its_weighted_share_of_reads()
    {
        var options = TestTopologies.Standard();
        options.Pools[0].AcceptNoTxSession = true;
        options.Pools[0].Priority = 100;
        var (router, _, _) = TestTopologies.Router(options);
        var counts = Enumerable.Range(0, 50_000).Select(_ => router.Decide(RouteRequest.Read, null).PoolName).CountBy(n => n).ToDictionary();
        Assert.InRange(counts["WritePool"] / 50_000.0, 0.18, 0.22); // weight 1 of 1+1+3
    }

    [Fact]
    public void Weighted_spread_of_100k_decisions_at_1_to_3_is_within_one_percent()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard(), seed: 7);
        const int n = 100_000;
        var sync1 = 0;
        for (var i = 0; i < n; i++)
        {
            if (router.Decide(RouteRequest.Read, null).PoolName == "sync1")
            {
                sync1++;
            }
        }

        Assert.InRange(sync1 / (double)n, 0.24, 0.26);
    }

    [Fact]
    public void MasterOnly_outer_scope_keeps_inner_ReadReplica_on_primary_and_says_so()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        using var outer = RoutingScope.Begin(RouteKind.MasterOnly, "OrderEntry.Save", RoutingCategory.Interface);
        using var inner = RoutingScope.Begin(RouteKind.ReadReplica, "SalesReport.Build", RoutingCategory.Report);
        var d = router.Decide(RouteRequest.Read, inner);
        Assert.Equal(("WritePool", RouteDecisionReason.StricterOuterScope), (d.PoolName, d.Reason));
        Assert.Equal((RouteKind.MasterOnly, RouteKind.ReadReplica, "SalesReport.Build"), (d.Route, d.RequestedRoute, d.Scenario));
    }

    [Fact]
    public void ReadReplica_outer_scope_keeps_inner_AsyncReplica_on_sync_replicas()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        using var outer = RoutingScope.Begin(RouteKind.ReadReplica);
        using var inner = RoutingScope.Begin(RouteKind.AsyncReplica);
        var d = router.Decide(RouteRequest.Read, inner);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.StricterOuterScope, RouteKind.ReadReplica), (d.PoolRole, d.Reason, d.Route));
    }

    [Fact]
    public void Category_override_sends_reports_to_primary()
    {
        var options = TestTopologies.Standard();
        options.Overrides.Categories[RoutingCategory.Report] = new RouteOverride { Route = RouteKind.MasterOnly };
        var (router, _, _) = TestTopologies.Router(options);
        var d = Decide(router, RouteRequest.Read, RouteKind.ReadReplica, category: RoutingCategory.Report);
        Assert.Equal(("WritePool", RouteDecisionReason.OverriddenByConfiguration), (d.PoolName, d.Reason));
        Assert.Equal(PoolRole.SyncReplica, Decide(router, RouteRequest.Read, RouteKind.ReadReplica, category: RoutingCategory.PrintForm).PoolRole);
    }

    [Fact]
    public void Scenario_override_wins_over_category_override()
    {
        var options = TestTopologies.Standard();
        options.Overrides.Categories[RoutingCategory.PrintForm] = new RouteOverride { Route = RouteKind.ReadReplica };
        options.Overrides.Scenarios["Invoice.Print"] = new RouteOverride { Route = RouteKind.MasterOnly };
        var (router, _, _) = TestTopologies.Router(options);
        Assert.Equal("WritePool", Decide(router, RouteRequest.Read, RouteKind.AsyncReplica, category: RoutingCategory.PrintForm, scenario: "Invoice.Print").PoolName);
        var other = Decide(router, RouteRequest.Read, RouteKind.AsyncReplica, category: RoutingCategory.PrintForm, scenario: "Waybill.Print");
        Assert.Equal((PoolRole.SyncReplica, RouteKind.ReadReplica, RouteDecisionReason.OverriddenByConfiguration), (other.PoolRole, other.Route, other.Reason));
    }

    [Fact]
    public void Override_never_weakens_an_operation_route()
    {
        var options = TestTopologies.Standard();
        options.Overrides.Categories[RoutingCategory.Interface] = new RouteOverride { Route = RouteKind.AsyncReplica };
        var (router, _, _) = TestTopologies.Router(options);
        var d = Decide(router, RouteRequest.Read, RouteKind.MasterOnly, category: RoutingCategory.Interface);
        Assert.Equal(("WritePool", RouteDecisionReason.MasterOnlyScope), (d.PoolName, d.Reason));
    }

    [Fact]
    public void Pool_override_pins_reads_to_that_pool_while_it_is_healthy()
    {
        var options = TestTopologies.Standard();
        options.Overrides.Categories[RoutingCategory.Report] = new RouteOverride { Pool = "sync1" };
        var (router, _, health) = TestTopologies.Router(options);
        Assert.All(Enumerable.Range(0, 200), _ =>
            Assert.Equal(("sync1", RouteDecisionReason.OverriddenByConfiguration),
                (Decide(router, RouteRequest.Read, RouteKind.ReadReplica, category: RoutingCategory.Report) is var d ? (d.PoolName, d.Reason) : default)));

        health.For("sync1").MarkUnavailable();
        Assert.Equal("sync2", Decide(router, RouteRequest.Read, RouteKind.ReadReplica, category: RoutingCategory.Report).PoolName);
    }

    [Fact]
    public void Plain_connection_without_explicit_route_goes_to_primary()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var request = new RouteRequest(false, false, ExplicitRouteRequired: true);
        Assert.Equal(RouteDecisionReason.ConnectionNotExplicitlyRouted, router.Decide(request, null).Reason);
        Assert.Equal(PoolRole.SyncReplica, Decide(router, request, RouteKind.ReadReplica).PoolRole);
        Assert.Equal("async1", Decide(router, request, RouteKind.AsyncReplica).PoolName);
    }

    [Fact]
    public void User_opened_connection_goes_to_primary_even_under_ReadReplica()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var d = Decide(router, new RouteRequest(false, false, UserOpenedConnection: true), RouteKind.ReadReplica);
        Assert.Equal(("WritePool", RouteDecisionReason.UserOpenedConnection), (d.PoolName, d.Reason));
    }

    [Fact]
    public void Excluded_pool_is_skipped()
    {
        var (router, topology, _) = TestTopologies.Router(TestTopologies.Standard());
        var sync2 = topology.FindPool("sync2")!;
        Assert.All(Enumerable.Range(0, 300), _ => Assert.Equal("sync1", router.Decide(RouteRequest.Read, null, exclude: sync2).PoolName));
    }

    [Fact]
    public void Every_decision_reaches_the_observers()
    {
        var observer = new RecordingObserver();
        var health = new Pools.PoolHealthRegistry();
        var router = new QueryRouter(RoutingTopology.Build(TestTopologies.Standard(), health), observers: [observer]);
        router.Decide(RouteRequest.Write, null);
        router.Decide(RouteRequest.Read, null);
        Assert.Equal([RouteDecisionReason.WriteCommand, RouteDecisionReason.ReadOutsideTransaction], observer.Reasons);
    }

    private sealed class RecordingObserver : IRouteDecisionObserver
    {
        public List<RouteDecisionReason> Reasons { get; } = [];

        public void OnDecision(in RouteDecision decision) => Reasons.Add(decision.Reason);
    }
}
