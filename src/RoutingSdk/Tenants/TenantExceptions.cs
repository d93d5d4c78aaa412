namespace RoutingSdk;

/// <summary>
/// Several clusters are configured and RoutingSdk could not tell which one a statement belongs to: no
/// <see cref="TenantScope"/> (or a tenant not in the map) and no <see cref="TenantOptions.DefaultCluster"/>. Nothing was sent.
/// </summary>
public sealed class TenantNotResolvedException : RoutingException
{
    internal TenantNotResolvedException(string? tenant, string message)
        : base(message) => Tenant = tenant;

    /// <summary>The tenant in force (<see langword="null"/>: none).</summary>
    public string? Tenant { get; }
}

/// <summary>
/// A write of a tenant whose writes are frozen (a move to another cluster is in progress) waited
/// <see cref="TenantOptions.FreezeWaitTimeout"/> and the move did not finish. Nothing was sent; repeat it later.
/// </summary>
public sealed class TenantFrozenException : RoutingException
{
    internal TenantFrozenException(string tenant, string message)
        : base(message) => Tenant = tenant;

    /// <summary>The frozen tenant.</summary>
    public string Tenant { get; }
}

/// <summary>
/// A tenant already holds <see cref="TenantOptions.MaxConnectionsPerTenant"/> connections on its cluster and none was
/// returned within <see cref="TenantOptions.LimitWaitTimeout"/>. Nothing was sent.
/// </summary>
public sealed class TenantLimitExceededException : RoutingException
{
    internal TenantLimitExceededException(string tenant, string cluster, string message)
        : base(message)
    {
        Tenant = tenant;
        Cluster = cluster;
    }

    /// <summary>The tenant over its limit.</summary>
    public string Tenant { get; }

    /// <summary>The cluster the limit applies on.</summary>
    public string Cluster { get; }
}

/// <summary>
/// One operation, transaction or open connection would reach two clusters (its tenant changed, or the tenant was moved
/// while it ran). Refused before anything was sent to the second cluster: a transaction cannot span clusters, and an
/// operation's read-your-writes positions mean nothing on another cluster.
/// </summary>
public sealed class CrossClusterOperationException : RoutingException
{
    internal CrossClusterOperationException(string boundCluster, string requestedCluster, string message)
        : base(message)
    {
        BoundCluster = boundCluster;
        RequestedCluster = requestedCluster;
    }

    /// <summary>The cluster the operation, transaction or connection belongs to.</summary>
    public string BoundCluster { get; }

    /// <summary>The cluster the current tenant maps to.</summary>
    public string RequestedCluster { get; }
}
