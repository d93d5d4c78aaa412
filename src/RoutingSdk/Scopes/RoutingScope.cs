using RoutingSdk.Consistency;

namespace RoutingSdk;

/// <summary>
/// The ambient route of the current business operation. It flows with async calls (<see cref="AsyncLocal{T}"/>)
/// and nests: an inner scope may only be stricter than the outer one (MasterOnly &gt; ReadReplica &gt; AsyncReplica);
/// a weaker inner request is recorded (<see cref="IsOverridden"/>), never honoured.
/// </summary>
/// <example>
/// <code>
/// using (RoutingScope.Begin(RouteKind.ReadReplica, "SalesReport.Build", RoutingCategory.Report))
/// {
///     var rows = await db.Orders.Where(...).ToListAsync(); // runs on a synchronous replica
/// }
/// </code>
/// </example>
public sealed class RoutingScope : IDisposable
{
    private static readonly AsyncLocal<RoutingScope?> CurrentScope = new();

    private RoutingScope(RouteKind requested, RouteKind route, string? scenario, RoutingCategory category, int? maxLag, RoutingScope? parent)
    {
        Root = parent?.Root ?? this;
        RequestedRoute = requested;
        Route = route;
        Scenario = scenario;
        Category = category;
        MaxLagMilliseconds = maxLag;
        Parent = parent;
    }

    /// <summary>The innermost scope of the current async flow, or <see langword="null"/> outside any scope.</summary>
    public static RoutingScope? Current => CurrentScope.Value;

    /// <summary>The route this scope asked for.</summary>
    public RouteKind RequestedRoute { get; }

    /// <summary>The route in force: the stricter of <see cref="RequestedRoute"/> and the outer scope's route.</summary>
    public RouteKind Route { get; }

    /// <summary>The business scenario (e.g. <c>SalesReport.Build</c>), inherited from the outer scope when not given.</summary>
    public string? Scenario { get; }

    /// <summary>The operation category, inherited from the outer scope when not given.</summary>
    public RoutingCategory Category { get; }

    /// <summary>The largest asynchronous-replica lag this operation accepts (the smallest of the nested limits), if any.</summary>
    public int? MaxLagMilliseconds { get; }

    /// <summary>The enclosing scope.</summary>
    public RoutingScope? Parent { get; }

    /// <summary>The outermost scope of this operation; it holds the operation's shared state.</summary>
    internal RoutingScope Root { get; }

    private OperationState? _operation;

    /// <summary>Per-operation facts (writes, required WAL position), shared by nested scopes; created on first need.</summary>
    internal OperationState Operation
    {
        get
        {
            var root = Root;
            return root._operation ?? Interlocked.CompareExchange(ref root._operation, new OperationState(), null) ?? root._operation;
        }
    }

    /// <summary>The operation's state if anything was recorded yet; reads never allocate it.</summary>
    internal OperationState? ExistingOperation => Root._operation;

    /// <summary>
    /// Makes the rest of this operation read only data at least as new as <paramref name="token"/> (a write made by
    /// another request or service): asynchronous replicas are used only once they have replayed it.
    /// </summary>
    public void WaitFor(CausalToken token)
    {
        Operation.RequireTokenCluster(token.Cluster);
        Operation.Require(token.Lsn);
        Operation.RequireTimeline(token.Timeline);
    }

    /// <summary><see langword="true"/> when an outer, stricter scope overrode this scope's <see cref="RequestedRoute"/>.</summary>
    public bool IsOverridden => RequestedRoute != RouteKind.Default && Route != RequestedRoute;

    /// <summary>Starts a scope for the current async flow. Dispose it (with <c>using</c>) when the operation ends.</summary>
    /// <param name="route">The requested route.</param>
    /// <param name="scenario">The scenario name (for overrides and metrics); <see langword="null"/> inherits the outer one.</param>
    /// <param name="category">The operation category; <see cref="RoutingCategory.Other"/> inherits the outer one.</param>
    /// <param name="maxLagMilliseconds">For <see cref="RouteKind.AsyncReplica"/>: the largest acceptable replay lag.</param>
    /// <exception cref="ArgumentOutOfRangeException">An undefined route or category, or a lag limit that is not positive.</exception>
    /// <exception cref="ArgumentException">An empty scenario.</exception>
    public static RoutingScope Begin(RouteKind route, string? scenario = null, RoutingCategory category = RoutingCategory.Other, int? maxLagMilliseconds = null)
    {
        if (!RouteStrictness.IsDefined(route))
        {
            throw new ArgumentOutOfRangeException(nameof(route), route, "Use RouteKind.Default, ReadReplica, AsyncReplica or MasterOnly.");
        }

        if (!RouteStrictness.IsDefined(category))
        {
            throw new ArgumentOutOfRangeException(nameof(category), category, "Use RoutingCategory.Other, Interface, Report or PrintForm.");
        }

        if (scenario is not null && string.IsNullOrWhiteSpace(scenario))
        {
            throw new ArgumentException("The scenario must not be empty; pass null to inherit the outer scenario.", nameof(scenario));
        }

        if (maxLagMilliseconds is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLagMilliseconds), maxLagMilliseconds, "maxLagMilliseconds must be > 0, or null for no limit.");
        }

        var parent = CurrentScope.Value;
        var effective = parent is null ? route : route == RouteKind.Default ? parent.Route : RouteStrictness.Stricter(parent.Route, route);
        var maxLag = (parent?.MaxLagMilliseconds, maxLagMilliseconds) switch
        {
            (int outer, int inner) => Math.Min(outer, inner),
            (int outer, null) => outer,
            (null, var inner) => inner,
        };

        var scope = new RoutingScope(
            route,
            effective,
            scenario ?? parent?.Scenario,
            category == RoutingCategory.Other && parent is not null ? parent.Category : category,
            maxLag,
            parent);
        CurrentScope.Value = scope;
        return scope;
    }

    /// <summary>Ends the scope: the current flow's route returns to the outer scope.</summary>
    /// <remarks>Async work started inside the scope keeps the route it captured, so awaited continuations of a
    /// routed method still run under it after the caller has left the scope.</remarks>
    public void Dispose() => Scopes.AmbientScopes.End(CurrentScope, this, static s => s.Parent);

    /// <inheritdoc />
    public override string ToString() =>
        IsOverridden
            ? $"{Route} (requested {RequestedRoute}, overridden by an outer scope) {Scenario} [{Category}]"
            : $"{Route} {Scenario} [{Category}]";
}
