namespace RoutingSdk;

/// <summary>What to do when the topology does not meet the read-pool requirements at start.</summary>
public enum TopologyVerification
{
    /// <summary>Do not check.</summary>
    Off,

    /// <summary>Log a warning per problem (default).</summary>
    Warn,

    /// <summary>Fail start-up with every problem listed.</summary>
    Fail,
}

/// <summary>The background health monitor of the pools.</summary>
public sealed class HealthMonitorOptions
{
    /// <summary>Run the monitor (default <see langword="true"/>). It starts with the host (it is an <c>IHostedService</c>).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between checks of every pool (default 1 s).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one check may take before the pool counts as unreachable (default 2 s).</summary>
    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Consecutive good checks before an evicted pool is used again (default 2).</summary>
    public int ReadmitAfterConsecutiveChecks { get; set; } = 2;

    /// <summary>Verify at start that the primary commits with <c>remote_apply</c>, every SyncReplica pool is in the
    /// synchronous quorum and has <c>hot_standby_feedback = on</c> (default <see cref="TopologyVerification.Warn"/>).</summary>
    public TopologyVerification VerifyTopologyAtStart { get; set; } = TopologyVerification.Warn;
}
