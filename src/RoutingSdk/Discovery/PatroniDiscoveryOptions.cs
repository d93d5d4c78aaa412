namespace RoutingSdk;

/// <summary>Where the pools come from when they are not configured one by one.</summary>
public sealed class DiscoveryOptions
{
    /// <summary>Topology discovery from Patroni's REST API (<c>GET /cluster</c>).</summary>
    public PatroniDiscoveryOptions Patroni { get; set; } = new();
}

/// <summary>
/// Topology discovery from Patroni: every member becomes a pool named after it — the leader the
/// <see cref="PoolRole.Primary"/>, each <c>sync_standby</c> (and <c>quorum_standby</c>, Patroni's quorum mode) a <see cref="PoolRole.SyncReplica"/>, any other running
/// replica an <see cref="PoolRole.AsyncReplica"/> (used only by operations that opt in) — and the pools follow every
/// failover and switchover live. Exclusive with <see cref="RoutingOptions.Pools"/>.
/// </summary>
public sealed class PatroniDiscoveryOptions
{
    /// <summary>Patroni REST API URLs of the members (e.g. <c>http://db1:8008</c>); any one that answers is enough.</summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>How often <c>GET /cluster</c> is asked (default 1 s).</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Timeout of one REST request (default 2 s).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Applied to every discovered member: <see cref="RoutingPoolOptions.ConnectionString"/> holds database, credentials
    /// and settings (its Host and Port are replaced by the member's); sizing, <see cref="RoutingPoolOptions.UsageRatio"/>
    /// and <see cref="RoutingPoolOptions.Priority"/> apply to each pool. Name and Role come from Patroni.
    /// </summary>
    public RoutingPoolOptions Template { get; set; } = new();

    internal bool Enabled => Endpoints is { Count: > 0 };
}
