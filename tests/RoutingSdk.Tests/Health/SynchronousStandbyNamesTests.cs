using RoutingSdk.Health;

namespace RoutingSdk.Tests.Health;

public sealed class SynchronousStandbyNamesTests
{
    private static Dictionary<string, string> States(params string[] pairs) =>
        pairs.Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

    [Theory]
    [InlineData("ANY 2 (sync1, sync2)", true, 2, "sync1,sync2")]
    [InlineData("any 1 (sync1,sync2)", true, 1, "sync1,sync2")]
    [InlineData("FIRST 2 (n3, n2)", false, 2, "n3,n2")]
    [InlineData("2 (n3,n2)", false, 2, "n3,n2")] // what Patroni writes
    [InlineData("sync1, sync2", false, 1, "sync1,sync2")]
    [InlineData("ANY 2 (\"Sync One\", sync2)", true, 2, "Sync One,sync2")]
    [InlineData("ANY 1 (*)", true, 1, "*")]
    public void Parses_every_form_PostgreSQL_accepts(string setting, bool quorum, int count, string names)
    {
        var parsed = SynchronousStandbyNames.Parse(setting)!;
        Assert.Equal((quorum, count, names), (parsed.IsQuorum, parsed.Count, string.Join(",", parsed.Names)));
    }

    [Fact]
    public void Empty_setting_means_no_synchronous_standby()
    {
        Assert.Null(SynchronousStandbyNames.Parse(""));
        Assert.Null(SynchronousStandbyNames.Parse("  "));
    }

    [Fact]
    public void Any_n_covers_a_standby_only_when_every_commit_waits_for_all_listed()
    {
        var states = States("sync1=quorum", "sync2=quorum", "async1=async");
        Assert.True(SynchronousStandbyNames.Parse("ANY 2 (sync1, sync2)")!.Covers("sync1", states, out _));
        Assert.False(SynchronousStandbyNames.Parse("ANY 1 (sync1, sync2)")!.Covers("sync1", states, out var why));
        Assert.Contains("ANY 1 of 2", why);

        // The operator's fix while sync2 is out: list only the replica that serves reads.
        var sync2Gone = States("sync1=quorum", "async1=async");
        Assert.True(SynchronousStandbyNames.Parse("ANY 1 (sync1)")!.Covers("sync1", sync2Gone, out _));

        // A listed standby that is down still counts: when it returns, commits could be acknowledged without sync1.
        Assert.False(SynchronousStandbyNames.Parse("ANY 1 (sync1, sync2)")!.Covers("sync1", sync2Gone, out _));
        Assert.True(SynchronousStandbyNames.Parse("ANY 2 (sync1, sync2)")!.Covers("sync1", sync2Gone, out _));
    }

    [Fact]
    public void A_state_hidden_from_an_unprivileged_login_is_not_coverage_and_the_reason_names_the_grant()
    {
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        PoolHealthMonitor.MergeSyncState(states, "sync1", SynchronousStandbyNames.HiddenState);
        PoolHealthMonitor.MergeSyncState(states, "sync2", SynchronousStandbyNames.HiddenState);
        Assert.False(SynchronousStandbyNames.Parse("ANY 2 (sync1, sync2)")!.Covers("sync1", states, out var why));
        Assert.Contains("GRANT pg_monitor", why);
        Assert.DoesNotContain("not connected", why);
    }

    [Fact]
    public void Wildcard_counts_every_connected_candidate_even_an_async_one()
    {
        var states = States("sync1=quorum", "sync2=quorum", "async1=quorum");
        Assert.False(SynchronousStandbyNames.Parse("ANY 2 (*)")!.Covers("sync1", states, out _));
        Assert.True(SynchronousStandbyNames.Parse("ANY 3 (*)")!.Covers("sync1", states, out _));
    }

    [Fact]
    public void Priority_mode_covers_the_standbys_being_waited_for_only()
    {
        var states = States("n2=sync", "n3=potential");
        var names = SynchronousStandbyNames.Parse("FIRST 1 (n2, n3)")!;
        Assert.True(names.Covers("n2", states, out _));
        Assert.False(names.Covers("n3", states, out var why));
        Assert.Contains("potential", why);
        Assert.False(names.Covers("n4", states, out why));
        Assert.Contains("not connected", why);
    }

    [Fact]
    public void A_duplicated_application_name_keeps_the_strongest_state_instead_of_failing()
    {
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        PoolHealthMonitor.MergeSyncState(states, "walreceiver", "async");
        PoolHealthMonitor.MergeSyncState(states, "sync1", "potential");
        PoolHealthMonitor.MergeSyncState(states, "sync1", "sync");
        PoolHealthMonitor.MergeSyncState(states, "sync1", "potential"); // a lingering walsender after the live one
        PoolHealthMonitor.MergeSyncState(states, "walreceiver", "async");
        Assert.Equal("sync", states["sync1"]);
        Assert.Equal(2, states.Count);
    }
}
