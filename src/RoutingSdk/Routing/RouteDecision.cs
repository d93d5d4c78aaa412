using RoutingSdk.Pools;

namespace RoutingSdk;

/// <summary>Where one connection or statement goes, and why. A value type: deciding allocates nothing.</summary>
public readonly struct RouteDecision
{
    internal RouteDecision(RoutingPool? pool, RouteDecisionReason reason, RouteKind route, RouteKind requestedRoute, RoutingCategory category, string? scenario)
    {
        _pool = pool;
        Reason = reason;
        Route = route;
        RequestedRoute = requestedRoute;
        Category = category;
        Scenario = scenario;
    }

    private readonly RoutingPool? _pool;

    /// <summary>
    /// The pool. Every decision handed out by the router has one: a decision that needs the primary while there is none
    /// (<see cref="AwaitsPrimary"/>, an election) never leaves the router, which waits for a primary instead.
    /// </summary>
    internal RoutingPool Pool => _pool!;

    /// <summary>The decision needs the primary and none is known (an election): the router waits, bounded, for one.</summary>
    internal bool AwaitsPrimary => _pool is null;

    /// <summary>
    /// Whether a statement on a connection bound by this decision may take effect on the server: everything bound to
    /// a write-capable pool unless the operation declared itself a read that replicas may serve ([ReadReplica],
    /// [AsyncReplica], or a default route that sends reads to replicas) and the primary only stands in for them. A
    /// function called in a SELECT under [MasterOnly] or <c>.OnPrimary()</c> may post an invoice: it counts.
    /// </summary>
    internal bool MayHaveEffect => _pool is { AcceptTxSession: true } && !IsDeclaredRead;

    /// <summary>The operation declared the statement replica-safe; the primary serves it only as a stand-in.</summary>
    internal bool IsDeclaredRead => Reason is RouteDecisionReason.ReadOutsideTransaction or RouteDecisionReason.AsyncReplicaRequested
        or RouteDecisionReason.LagAboveLimit or RouteDecisionReason.LagUnknown or RouteDecisionReason.AsyncReplicasUnavailable
        or RouteDecisionReason.ReplicasUnavailable or RouteDecisionReason.RetryAfterRecoveryConflict or RouteDecisionReason.ReplicationNotConfirmed
        or RouteDecisionReason.ReplicaBehindOperationWrites
        || (Reason is RouteDecisionReason.OverriddenByConfiguration or RouteDecisionReason.StricterOuterScope
            && RequestedRoute is RouteKind.ReadReplica or RouteKind.AsyncReplica);

    /// <summary>The chosen pool's name.</summary>
    public string PoolName => _pool?.Name ?? "";

    /// <summary>The chosen pool's cluster (a key of <see cref="RoutingOptions.Clusters"/>); <see langword="null"/> with one cluster configured.</summary>
    public string? ClusterName => _pool?.Cluster;

    /// <summary>The chosen pool's role.</summary>
    public PoolRole PoolRole => _pool?.Role ?? PoolRole.Primary;

    /// <summary>Why this pool.</summary>
    public RouteDecisionReason Reason { get; }

    /// <summary>The route in force for the decision (after nesting and overrides).</summary>
    public RouteKind Route { get; }

    /// <summary>The route the innermost operation asked for.</summary>
    public RouteKind RequestedRoute { get; }

    /// <summary>The operation's category.</summary>
    public RoutingCategory Category { get; }

    /// <summary>The operation's scenario, if any.</summary>
    public string? Scenario { get; }

    /// <inheritdoc />
    public override string ToString() => $"{PoolName} ({Reason}; route {Route}{(Scenario is null ? "" : ", " + Scenario)})";
}
