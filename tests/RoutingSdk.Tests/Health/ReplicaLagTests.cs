using RoutingSdk.Health;

namespace RoutingSdk.Tests.Health;

/// <summary>The replay-lag estimate of a replica that is behind.</summary>
public sealed class ReplicaLagTests
{
    [Fact]
    public void After_an_idle_stretch_the_lag_is_bounded_by_the_last_check_that_saw_the_replica_caught_up()
    {
        // Last replayed transaction an hour ago; the previous check (1.5 s ago) saw the replica caught up.
        Assert.Equal(1_500, PoolHealthMonitor.ReplicaLag(3_600_000, caughtUpAt: 10_000, now: 11_500));
    }

    [Fact]
    public void A_replica_never_seen_caught_up_keeps_the_time_since_its_last_replayed_transaction()
    {
        Assert.Equal(2_000, PoolHealthMonitor.ReplicaLag(2_000, caughtUpAt: null, now: 50_000));
        Assert.Equal(2_000, PoolHealthMonitor.ReplicaLag(2_000, caughtUpAt: 10_000, now: 50_000)); // the smaller of the two
        Assert.True(double.IsNaN(PoolHealthMonitor.ReplicaLag(double.NaN, caughtUpAt: null, now: 50_000))); // nothing replayed yet: unknown
        Assert.Equal(700, PoolHealthMonitor.ReplicaLag(double.NaN, caughtUpAt: 49_300, now: 50_000));
    }
}
