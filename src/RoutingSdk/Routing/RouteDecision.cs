using RoutingSdk.Pools;

namespace RoutingSdk;

/// <summary>Where one connection or statement goes, and why. A value type: deciding allocates nothing.</summary>
public readonly struct RouteDecision
{
    internal RouteDecision(RoutingPool pool, RouteDecisionReason reason, RouteKind route, RouteKind requestedRoute, RoutingCategory category, string? scenario)
    {
        Pool = pool;
        Reason = reason;
        Route = route;
        RequestedRoute = requestedRoute;
        Category = category;
        Scenario = scenario;
    }

    internal RoutingPool Pool { get; }

    /// <summary>The chosen pool's name.</summary>
    public string PoolName => Pool?.Name ?? "";

    /// <summary>The chosen pool's role.</summary>
    public PoolRole PoolRole => Pool?.Role ?? PoolRole.Primary;

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
