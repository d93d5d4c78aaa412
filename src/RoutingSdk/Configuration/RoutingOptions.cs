namespace RoutingSdk;

/// <summary>What reads outside transactions do when the operation did not choose a route.</summary>
public enum DefaultRoute
{
    /// <summary>The vendor's behaviour: every read outside a transaction is spread over the read pools.</summary>
    ReadReplica = 0,

    /// <summary>Opt-in only: reads go to replicas only inside <c>[ReadReplica]</c>/<c>[AsyncReplica]</c> operations; the rest stay on the primary.</summary>
    Primary = 1,

    /// <summary>The earlier name of <see cref="Primary"/>; configuration files may keep saying "Master".</summary>
    [Obsolete("Use DefaultRoute.Primary: RoutingSdk calls the master the primary everywhere.")]
    Master = Primary,
}

/// <summary>Options of RoutingSdk, bound from configuration or set in code; validated at start, every problem reported at once.</summary>
public sealed class RoutingOptions
{
    /// <summary>The pools. Exactly the vendor's <c>extraConnectionPools</c>: a primary (WritePool) and read pools.</summary>
    public List<RoutingPoolOptions> Pools { get; set; } = [];

    /// <summary>What unannotated reads outside transactions do (default <see cref="RoutingSdk.DefaultRoute.ReadReplica"/>).</summary>
    public DefaultRoute DefaultRoute { get; set; } = DefaultRoute.ReadReplica;

    /// <summary>Runtime overrides by category and scenario, reloaded live without restart.</summary>
    public RoutingOverrideOptions Overrides { get; set; } = new();

    /// <summary>Retry of reads cancelled by a replica.</summary>
    public ReadRetryOptions ReadRetry { get; set; } = new();

    /// <summary>The background health monitor of the pools.</summary>
    public HealthMonitorOptions Health { get; set; } = new();

    /// <summary>Read-your-writes and the synchronous-commit trap.</summary>
    public ConsistencyOptions Consistency { get; set; } = new();

    /// <summary>Pools discovered instead of configured (Patroni).</summary>
    public DiscoveryOptions Discovery { get; set; } = new();

    /// <summary>Writes while the primary fails over.</summary>
    public FailoverOptions Failover { get; set; } = new();

    /// <summary>
    /// Named clusters, each a full topology of its own (pools or Patroni discovery, weights, health, failover, read
    /// retry), for applications that place tenants on several clusters. Empty (the default): this object's own
    /// <see cref="Pools"/>/<see cref="Discovery"/> are the one cluster, as before. When set, every statement goes to
    /// the cluster of the current <see cref="TenantScope"/> (<see cref="Tenants"/>), and the top-level
    /// <see cref="Pools"/> and <see cref="Discovery"/> must stay empty; a cluster's own settings are its entry's.
    /// </summary>
    public Dictionary<string, RoutingOptions> Clusters { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Which cluster serves which tenant (used when <see cref="Clusters"/> is set).</summary>
    public TenantOptions Tenants { get; set; } = new();

    /// <summary>A copy with other pools (the discovered ones); every other setting shared.</summary>
    internal RoutingOptions WithPools(List<RoutingPoolOptions> pools) => new()
    {
        Pools = pools, DefaultRoute = DefaultRoute, Overrides = Overrides, ReadRetry = ReadRetry, Health = Health,
        Consistency = Consistency, Discovery = Discovery, Failover = Failover, Clusters = Clusters, Tenants = Tenants,
    };

    /// <summary>A copy with other overrides (the runtime switches merged in); every other setting shared.</summary>
    internal RoutingOptions WithOverrides(RoutingOverrideOptions overrides) => new()
    {
        Pools = Pools, DefaultRoute = DefaultRoute, Overrides = overrides, ReadRetry = ReadRetry, Health = Health,
        Consistency = Consistency, Discovery = Discovery, Failover = Failover, Clusters = Clusters, Tenants = Tenants,
    };
}

/// <summary>Runtime overrides: e.g. all reports to the master, one print form to the master, interfaces off replicas.</summary>
public sealed class RoutingOverrideOptions
{
    /// <summary>Overrides by operation category.</summary>
    public Dictionary<RoutingCategory, RouteOverride> Categories { get; set; } = [];

    /// <summary>Overrides by scenario name (<c>Type.Method</c> or the attribute's <c>Scenario</c>); a scenario override wins over its category's.</summary>
    public Dictionary<string, RouteOverride> Scenarios { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One override. Set <see cref="Route"/>, <see cref="Pool"/>, or both.</summary>
public sealed class RouteOverride
{
    /// <summary>The route to use instead. It only tightens: a route weaker than the operation's own is not applied.</summary>
    public RouteKind? Route { get; set; }

    /// <summary>Send the reads of the matching operations to this read pool (if healthy) instead of the weighted spread.</summary>
    public string? Pool { get; set; }
}
