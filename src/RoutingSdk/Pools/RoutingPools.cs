
namespace RoutingSdk;

/// <summary>One pool as RoutingSdk currently sees it.</summary>
/// <param name="Name">The pool's name.</param>
/// <param name="Role">Its role.</param>
/// <param name="Endpoint">Host, port and database (never credentials).</param>
/// <param name="IsAvailable">Taking part in routing (not evicted).</param>
/// <param name="Node">The node's <c>cluster_name</c> at the last health check, if any.</param>
/// <param name="LagMilliseconds">Replay lag at the last check; <see cref="double.NaN"/> when unknown.</param>
/// <param name="LagBytes">Replay lag in WAL bytes at the last check.</param>
/// <param name="LastProblem">Why it was last evicted, if it is or was.</param>
/// <param name="Cluster">The cluster's name in <see cref="RoutingOptions.Clusters"/>; <see langword="null"/> with one cluster configured.</param>
public sealed record RoutingPoolStatus(string Name, PoolRole Role, string Endpoint, bool IsAvailable, string? Node, double LagMilliseconds, long LagBytes, string? LastProblem, string? Cluster = null);

/// <summary>The pools RoutingSdk routes to: the primary's connection string for <c>UseNpgsql</c>, and each pool's live status.</summary>
public sealed class RoutingPools
{
    private readonly Tenants.ClusterSet _clusters;

    internal RoutingPools(Tenants.ClusterSet clusters) => _clusters = clusters;

    internal RoutingPools(Routing.QueryRouter router)
        : this(new Tenants.ClusterSet(router))
    {
    }

    /// <summary>The primary (WritePool) connection string, sizing applied. Pass it to <c>UseNpgsql</c>; never log it (it may hold a password).</summary>
    /// <remarks>
    /// During an election (Patroni discovery, no leader) it is another node's: RoutingSdk chooses every connection's node
    /// itself. With several clusters it is the current tenant's cluster's, else the default (or first) cluster's: each
    /// connection's cluster is chosen per statement all the same.
    /// </remarks>
    public string PrimaryConnectionString => _clusters.ForSettings().Router.ClusterConnectionString;

    /// <summary>Every pool's status now, of every cluster.</summary>
    public IReadOnlyList<RoutingPoolStatus> GetStatus() =>
        _clusters.Clusters.SelectMany(c => c.Router.Topology.Pools.Select(p => new RoutingPoolStatus(
            p.Name, p.Role, p.Endpoint, p.Health.IsAvailable, p.Health.Node, p.Health.LagMilliseconds, p.Health.LagBytes, p.Health.LastProblem, c.Name))).ToList();
}
