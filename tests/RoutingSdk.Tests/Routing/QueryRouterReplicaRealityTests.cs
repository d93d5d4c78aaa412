using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Routing;

public sealed class QueryRouterReplicaRealityTests
{
    [Fact]
    public void First_retry_goes_to_another_replica_and_the_second_to_the_primary()
    {
        var (router, topology, _) = TestTopologies.Router(TestTopologies.Standard());
        var sync1 = topology.FindPool("sync1")!;
        for (var i = 0; i < 200; i++)
        {
            var first = router.Decide(RouteRequest.Read with { RetryAttempt = 1 }, null, exclude: sync1);
            Assert.Equal(("sync2", RouteDecisionReason.RetryAfterRecoveryConflict), (first.PoolName, first.Reason));
        }

        var second = router.Decide(RouteRequest.Read with { RetryAttempt = 2 }, null, exclude: sync1);
        Assert.Equal(("WritePool", RouteDecisionReason.RetryAfterRecoveryConflict), (second.PoolName, second.Reason));
    }

    [Fact]
    public void Retry_with_no_other_replica_goes_to_the_primary()
    {
        var options = TestTopologies.Standard();
        options.Pools.RemoveAll(p => p.Name == "sync2");
        var (router, topology, _) = TestTopologies.Router(options);
        var d = router.Decide(RouteRequest.Read with { RetryAttempt = 1 }, null, exclude: topology.FindPool("sync1"));
        Assert.Equal(("WritePool", RouteDecisionReason.RetryAfterRecoveryConflict), (d.PoolName, d.Reason));
    }

    [Fact]
    public void Write_in_an_operation_is_recorded_for_read_your_writes()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        using var scope = RoutingScope.Begin(RouteKind.AsyncReplica);
        router.Decide(RouteRequest.Read, scope);
        Assert.Null(scope.ExistingOperation); // a read-only operation never allocates its state
        using var nested = RoutingScope.Begin(RouteKind.MasterOnly);
        router.Decide(RouteRequest.Write, nested);
        Assert.True(scope.Operation.WroteSinceCapture); // shared with the outer scope
        Assert.Same(scope.Operation, nested.Operation);
    }

    [Fact]
    public void Async_replica_behind_the_operation_writes_falls_back_to_a_sync_replica()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        using var scope = RoutingScope.Begin(RouteKind.AsyncReplica);
        var d = router.Decide(RouteRequest.Read with { AvoidAsyncReplicas = true }, scope);
        Assert.Equal((PoolRole.SyncReplica, RouteDecisionReason.ReplicaBehindOperationWrites), (d.PoolRole, d.Reason));
    }

    [Fact]
    public void After_an_unconfirmed_commit_the_operation_reads_from_the_primary_but_other_operations_do_not()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        using (var scope = RoutingScope.Begin(RouteKind.ReadReplica, "OrderEntry.Save"))
        {
            scope.Operation.MarkReplicationUnconfirmed();
            using var nested = RoutingScope.Begin(RouteKind.AsyncReplica);
            var d = router.Decide(RouteRequest.Read, nested);
            Assert.Equal(("WritePool", RouteDecisionReason.ReplicationNotConfirmed), (d.PoolName, d.Reason));
        }

        using var other = RoutingScope.Begin(RouteKind.ReadReplica);
        Assert.Equal(PoolRole.SyncReplica, router.Decide(RouteRequest.Read, other).PoolRole);
    }

    [Fact]
    public void Evicted_pool_without_a_monitor_is_tried_again_after_the_cooldown_only()
    {
        var (router, topology, health) = TestTopologies.Router(TestTopologies.Standard());
        var sync2 = topology.FindPool("sync2")!;
        sync2.Health.Evict("test");
        Assert.False(sync2.Health.IsAvailable);
        health.MonitorActive = true;
        Assert.False(sync2.Health.IsAvailable);
        Assert.True(sync2.Health.RecordGoodCheck(readmitAfter: 2, "sync2", 0, 0) is false);
        Assert.True(sync2.Health.RecordGoodCheck(readmitAfter: 2, "sync2", 0, 0));
        Assert.True(sync2.Health.IsAvailable);
        Assert.Equal("sync2", router.Decide(RouteRequest.Read, null, exclude: topology.FindPool("sync1")).PoolName);
    }
}
