using RoutingSdk.Health;

namespace RoutingSdk.Tests.Health;

/// <summary>The replay-lag estimate of a replica that is behind.</summary>
public sealed class ReplicaLagTests
{
    [Fact]
    public void After_an_idle_stretch_the_lag_is_bounded_by_the_last_check_that_saw_the_replica_caught_up()
    {
        // Last replayed transaction an hour ago; the previous check (1.5 s ago) saw the replica caught up.
        Assert.Equal(1_500, ReplicaJudgement.ReplicaLag(3_600_000, caughtUpAt: 10_000, now: 11_500));
    }

    [Fact]
    public void A_replica_never_seen_caught_up_keeps_the_time_since_its_last_replayed_transaction()
    {
        Assert.Equal(2_000, ReplicaJudgement.ReplicaLag(2_000, caughtUpAt: null, now: 50_000));
        Assert.Equal(2_000, ReplicaJudgement.ReplicaLag(2_000, caughtUpAt: 10_000, now: 50_000)); // the smaller of the two
        Assert.True(double.IsNaN(ReplicaJudgement.ReplicaLag(double.NaN, caughtUpAt: null, now: 50_000))); // nothing replayed yet: unknown
        Assert.Equal(700, ReplicaJudgement.ReplicaLag(double.NaN, caughtUpAt: 49_300, now: 50_000));
    }

    [Fact]
    public void An_evicted_sync_replica_is_readmitted_only_once_it_applied_what_the_primary_had()
    {
        // FIRST 1 (a, b): b has just become the synchronous standby; commits acknowledged by a alone may be missing on b.
        var behind = ReplicaJudgement.CatchUpProblem("sync2", "b", replay: 0x3_0000_0100, primaryLsn: 0x3_0000_0200);
        Assert.NotNull(behind);
        Assert.Contains("3/100", behind);
        Assert.Contains("3/200", behind);
        Assert.NotNull(ReplicaJudgement.CatchUpProblem("sync2", "b", replay: null, primaryLsn: 0x200)); // replayed nothing yet
        Assert.Null(ReplicaJudgement.CatchUpProblem("sync2", "b", replay: 0x200, primaryLsn: 0x200));
        Assert.Null(ReplicaJudgement.CatchUpProblem("sync2", "b", replay: 0x300, primaryLsn: 0x200));
        Assert.Null(ReplicaJudgement.CatchUpProblem("sync2", "b", replay: 0x100, primaryLsn: null)); // primary unknown: judged elsewhere
    }
}
