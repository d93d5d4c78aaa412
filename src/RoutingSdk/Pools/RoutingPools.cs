using RoutingSdk.Routing;

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
public sealed record RoutingPoolStatus(string Name, PoolRole Role, string Endpoint, bool IsAvailable, string? Node, double LagMilliseconds, long LagBytes, string? LastProblem);

/// <summary>The pools RoutingSdk routes to: the primary's connection string for <c>UseNpgsql</c>, and each pool's live status.</summary>
public sealed class RoutingPools
{
    private readonly QueryRouter _router;

    internal RoutingPools(QueryRouter router) => _router = router;

    /// <summary>The primary (WritePool) connection string, sizing applied. Pass it to <c>UseNpgsql</c>; never log it (it may hold a password).</summary>
    /// <remarks>During an election (Patroni discovery, no leader) it is another node's: RoutingSdk chooses every connection's node itself.</remarks>
    public string PrimaryConnectionString => _router.ClusterConnectionString;

    /// <summary>Every pool's status now.</summary>
    public IReadOnlyList<RoutingPoolStatus> GetStatus() =>
        _router.Topology.Pools.Select(p => new RoutingPoolStatus(
            p.Name, p.Role, p.Endpoint, p.Health.IsAvailable, p.Health.Node, p.Health.LagMilliseconds, p.Health.LagBytes, p.Health.LastProblem)).ToList();
}
