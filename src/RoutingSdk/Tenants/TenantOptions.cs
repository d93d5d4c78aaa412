namespace RoutingSdk;

/// <summary>
/// Which cluster serves which tenant, when <see cref="RoutingOptions.Clusters"/> names more than one. Reloaded live:
/// a tenant added to <see cref="Map"/> is served by its cluster at its next statement, without a restart.
/// </summary>
public sealed class TenantOptions
{
    /// <summary>
    /// Tenant → cluster name (a key of <see cref="RoutingOptions.Clusters"/>). Tenant identifiers compare
    /// case-insensitively, as configuration keys do.
    /// </summary>
    public Dictionary<string, string> Map { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The cluster of tenants not in <see cref="Map"/>, and of statements run outside any <see cref="TenantScope"/>
    /// (start-up work, migrations). <see langword="null"/> (the default): such a statement fails with
    /// <see cref="TenantNotResolvedException"/> and is never sent to "some" cluster.
    /// </summary>
    public string? DefaultCluster { get; set; }

    /// <summary>
    /// Tenants whose writes are frozen in every application instance that reads this configuration (a move between
    /// clusters in progress: see docs/operations.md, "Moving a tenant"). Their reads continue; their writes wait
    /// <see cref="FreezeWaitTimeout"/> for the freeze to end. Reloaded live.
    /// </summary>
    public List<string> FrozenTenants { get; set; } = [];

    /// <summary>
    /// How long a write of a tenant whose writes are frozen (a move to another cluster in progress) waits for the
    /// move to finish before it fails with <see cref="TenantFrozenException"/> (default 10 s). Reads continue.
    /// </summary>
    public TimeSpan FreezeWaitTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The most connections one tenant may hold open at once on one cluster (RoutingSdk's connections: EF Core's and
    /// <see cref="RoutingDataSource"/>'s); 0 (the default) = no limit. Keeps a noisy tenant from taking a shared
    /// cluster's connections from the others.
    /// </summary>
    public int MaxConnectionsPerTenant { get; set; }

    /// <summary>How long a connection waits for a slot under <see cref="MaxConnectionsPerTenant"/> before it fails with <see cref="TenantLimitExceededException"/> (default 5 s).</summary>
    public TimeSpan LimitWaitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Adds a <c>tenant</c> tag to RoutingSdk's metrics (off by default: one time series per tenant may be too many
    /// for a metrics backend). The <c>cluster</c> tag is always there when clusters are configured.
    /// </summary>
    public bool TagMetricsWithTenant { get; set; }
}
