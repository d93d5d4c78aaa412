using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Routing;

/// <summary>The one decision path: recording of writes, pinned pools, and the read-your-writes gate inside Decide.</summary>
public sealed class SingleDecisionPathTests
{
    [Theory]
    [InlineData(RouteDecisionReason.UserOpenedConnection)]
    [InlineData(RouteDecisionReason.ConnectionNotExplicitlyRouted)]
    [InlineData(RouteDecisionReason.InsideTransaction)]
    public void Every_connection_that_may_write_counts_as_a_write_of_the_operation(RouteDecisionReason reason)
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        using var scope = RoutingScope.Begin(RouteKind.Default, "OrderEntry.Save");
        var request = reason switch
        {
            RouteDecisionReason.UserOpenedConnection => new RouteRequest(false, false, UserOpenedConnection: true),
            RouteDecisionReason.ConnectionNotExplicitlyRouted => new RouteRequest(false, false, ExplicitRouteRequired: true),
            _ => RouteRequest.Transaction,
        };
        var decision = router.Decide(request, scope);
        Assert.Equal(reason, decision.Reason);
        Assert.True(scope.Operation.WroteSinceCapture);
    }

    [Fact]
    public void A_pinned_async_pool_obeys_the_lag_limit_and_the_read_your_writes_gate()
    {
        var options = TestTopologies.Standard();
        options.Overrides.Categories[RoutingCategory.PrintForm] = new RouteOverride { Pool = "async1" };
        var (router, topology, _) = TestTopologies.Router(options);
        var async1 = topology.FindPool("async1")!;
        async1.Health.ReportLag(5_000);

        using var scope = RoutingScope.Begin(RouteKind.AsyncReplica, "Invoice.Print", RoutingCategory.PrintForm, maxLagMilliseconds: 1_000);
        var lagging = router.Decide(RouteRequest.Read, scope);
        Assert.NotEqual("async1", lagging.PoolName);
        Assert.Equal(PoolRole.SyncReplica, lagging.PoolRole);

        async1.Health.ReportLag(10);
        Assert.Equal(("async1", RouteDecisionReason.OverriddenByConfiguration), (router.Decide(RouteRequest.Read, scope).PoolName, router.Decide(RouteRequest.Read, scope).Reason));

        var behind = router.Decide(RouteRequest.Read with { AvoidAsyncReplicas = true }, scope);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.ReplicaBehindOperationWrites), (behind.PoolRole, behind.Reason));
    }

    [Fact]
    public async Task An_unreachable_primary_while_checking_read_your_writes_sends_the_read_to_a_sync_replica_without_blocking()
    {
        // Nothing listens on port 1: the primary's WAL position cannot be read.
        var options = TestTopologies.Standard();
        options.Pools[0].ConnectionString = "Host=127.0.0.1;Port=1;Database=erp;Username=app;Timeout=2";
        var (router, _, _) = TestTopologies.Router(options);
        using var scope = RoutingScope.Begin(RouteKind.AsyncReplica, "Invoice.Print");
        scope.Operation.MarkWrite();

        var viaAsync = await router.DecideAsync(RouteRequest.Read, scope, null, CancellationToken.None);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.ReplicaBehindOperationWrites), (viaAsync.PoolRole, viaAsync.Reason));

        scope.Operation.MarkWrite();
        var viaSync = router.Decide(RouteRequest.Read, scope);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.ReplicaBehindOperationWrites), (viaSync.PoolRole, viaSync.Reason));
    }

    [Fact]
    public void A_session_that_saw_an_unconfirmed_commit_reads_from_the_primary_without_any_scope()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        Assert.Equal(PoolRole.SyncReplica, router.Decide(RouteRequest.Read, null).PoolRole);
        var d = router.Decide(RouteRequest.Read with { ReplicationUnconfirmed = true }, null);
        Assert.Equal(("WritePool", RouteDecisionReason.ReplicationNotConfirmed), (d.PoolName, d.Reason));
    }

    [Fact]
    public void A_query_marked_for_the_primary_goes_there_in_a_replica_route()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        using var scope = RoutingScope.Begin(RouteKind.ReadReplica);
        var d = router.Decide(RouteRequest.Read with { PrimaryRequested = true }, scope);
        Assert.Equal(("WritePool", RouteDecisionReason.QueryMarkedForPrimary), (d.PoolName, d.Reason));
    }
}
