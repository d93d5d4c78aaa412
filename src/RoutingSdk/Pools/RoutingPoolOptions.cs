namespace RoutingSdk;

/// <summary>One connection pool (the vendor's <c>extraConnectionPools/pool</c>).</summary>
public sealed class RoutingPoolOptions
{
    /// <summary>Unique pool name, e.g. <c>WritePool</c>, <c>ReadPool</c>, <c>sync1</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Npgsql connection string of the node or balancer behind this pool.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>What the node is.</summary>
    public PoolRole Role { get; set; } = PoolRole.SyncReplica;

    /// <summary>Accepts sessions inside transactions. Defaults to <see langword="true"/> for the primary only; only a primary may accept them.</summary>
    public bool? AcceptTxSession { get; set; }

    /// <summary>Accepts sessions outside transactions (the read spread). Defaults to <see langword="true"/> for synchronous replicas;
    /// an asynchronous replica must not accept them (it would be used automatically).</summary>
    public bool? AcceptNoTxSession { get; set; }

    /// <summary>Higher first: reads go to the highest-priority group that has a healthy pool.</summary>
    public int Priority { get; set; }

    /// <summary>Relative weight of the pool inside its priority group (must be &gt; 0).</summary>
    public double UsageRatio { get; set; } = 1;

    /// <summary>Minimum idle connections kept (Npgsql <c>Minimum Pool Size</c>).</summary>
    public int? MinPoolSize { get; set; }

    /// <summary>Maximum connections (Npgsql <c>Maximum Pool Size</c>).</summary>
    public int? MaxPoolSize { get; set; }

    /// <summary>Seconds to wait for a free connection (Npgsql <c>Timeout</c>, which covers waiting for the pool).</summary>
    public int? PoolTimeoutSeconds { get; set; }

    /// <summary>Seconds an idle connection is kept above the minimum (Npgsql <c>Connection Idle Lifetime</c>).</summary>
    public int? InactiveConnectionTimeoutSeconds { get; set; }

    /// <summary>Seconds between idle-connection pruning runs (Npgsql <c>Connection Pruning Interval</c>).</summary>
    public int? PruningIntervalSeconds { get; set; }

    /// <summary>A copy in another role, with the role's default session flags (the node was seen to change role).</summary>
    internal RoutingPoolOptions WithRole(PoolRole role) => new()
    {
        Name = Name, ConnectionString = ConnectionString, Role = role, Priority = Priority, UsageRatio = UsageRatio,
        MinPoolSize = MinPoolSize, MaxPoolSize = MaxPoolSize, PoolTimeoutSeconds = PoolTimeoutSeconds,
        InactiveConnectionTimeoutSeconds = InactiveConnectionTimeoutSeconds, PruningIntervalSeconds = PruningIntervalSeconds,
    };

    internal bool EffectiveAcceptTxSession => AcceptTxSession ?? Role == PoolRole.Primary;

    internal bool EffectiveAcceptNoTxSession => AcceptNoTxSession ?? Role == PoolRole.SyncReplica;
}
