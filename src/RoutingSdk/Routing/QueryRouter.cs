using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;

namespace RoutingSdk.Routing;

/// <summary>
/// The route table: route + session facts + pool states + overrides → pool and reason, the read-your-writes
/// revision of an asynchronous-replica read, and recording. It only reads the topology; <see cref="TopologyOwner"/>
/// changes it and <see cref="PrimaryWait"/> waits for a primary. Pure apart from the weighted random pick.
/// </summary>
internal sealed class QueryRouter : IDisposable
{
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly IRouteDecisionObserver[] _observers;
    private readonly PoolDataSources _dataSources;
    private readonly TopologyOwner _owner;
    private readonly PrimaryWait _primary;
    private readonly ReplicaPicker _picker;
    private int _lagUnknownWarned;
    private int _monitorEnsured;
    private IServiceProvider? _services;

    public QueryRouter(
        RoutingTopology topology, ILogger? logger = null, IEnumerable<IRouteDecisionObserver>? observers = null, Random? random = null, PoolDataSources? dataSources = null,
        RoutingMetrics? metrics = null)
    {
        Metrics = metrics ?? new RoutingMetrics();
        _dataSources = dataSources ?? new PoolDataSources();
        _logger = logger ?? NullLogger.Instance;
        _observers = observers?.ToArray() ?? [];
        _random = random ?? Random.Shared;
        _owner = new TopologyOwner(topology, _dataSources, _logger);
        _primary = new PrimaryWait(_owner, _dataSources, Metrics, _logger);
        _picker = new ReplicaPicker(_random);
    }

    /// <summary>DI constructor: builds from the current options and follows reloads.</summary>
    [ActivatorUtilitiesConstructor]
    public QueryRouter(
        IOptionsMonitor<RoutingOptions> options, PoolHealthRegistry health, PoolDataSources dataSources, ILogger<QueryRouter> logger,
        IEnumerable<IRouteDecisionObserver> observers, IEnumerable<RoutingConfigurationWarning> warnings, IEnumerable<RoutingConfigurationSection> sections,
        IServiceProvider services, System.Diagnostics.Metrics.IMeterFactory? meterFactory = null, string? clusterName = null)
        : this(RoutingTopology.Build(options.CurrentValue, health, dataSources), logger, observers, null, dataSources, new RoutingMetrics(meterFactory, clusterName))
    {
        foreach (var warning in warnings)
        {
            RoutingLog.ConfigurationWarning(logger, warning.Message);
        }

        _services = services;
        ClusterName = clusterName;
        _owner.Follow(options, health, sections);
    }

    /// <summary>The cluster's name in <see cref="RoutingOptions.Clusters"/>; <see langword="null"/> with one cluster configured.</summary>
    public string? ClusterName { get; }

    /// <summary>The health monitor of a cluster made by <see cref="Tenants.ClusterSet"/> (the DI container's otherwise).</summary>
    internal Health.PoolHealthMonitor? MonitorOverride { get; set; }

    /// <summary>Who changes the topology (reloads, switches, discovery, promotions, data-source lifetime).</summary>
    public TopologyOwner Owner => _owner;

    /// <summary>Waiting for a primary (elections, failed primary connections).</summary>
    public PrimaryWait Primary => _primary;

    public RoutingTopology Topology => _owner.Topology;

    public ILogger Logger => _logger;

    /// <summary>The primary now; <see langword="null"/> during an election (discovered topologies only).</summary>
    public RoutingPool? CurrentPrimary => PrimaryWait.Pick(_owner.Topology);

    /// <summary>
    /// A connection string of this cluster for configuration that needs one before any node is chosen (EF Core's
    /// <c>UseNpgsql</c>): the primary's, else — during an election — the first configured or discovered pool's. Routing
    /// replaces every connection, so which node it names does not matter.
    /// </summary>
    public string ClusterConnectionString =>
        (CurrentPrimary ?? Topology.WritePools.FirstOrDefault() ?? Topology.Pools.FirstOrDefault())?.ConnectionString
        ?? throw new RoutingException(
            $"RoutingSdk knows no node of the cluster yet ({ClusterState}): Patroni discovery has not answered. Check PatroniDiscovery.Endpoints, or configure the pools.");

    /// <summary>This application's <c>RoutingSdk</c> meter and instruments.</summary>
    public RoutingMetrics Metrics { get; }

    /// <summary>The data sources of every pool (one per pool, shared by all components).</summary>
    public PoolDataSources DataSources => _dataSources;

    // The topology owner's and the primary wait's operations, under the names their callers use.
    public bool Reload(RoutingOptions options, PoolHealthRegistry health) => _owner.Reload(options, health);

    public RoutingOptions? ConfiguredOptions => _owner.ConfiguredOptions;

    public IReadOnlyCollection<RoutingCategory> PrimaryCategories => _owner.PrimaryCategories;

    public IReadOnlyCollection<string> PrimaryScenarios => _owner.PrimaryScenarios;

    public bool SetRuntimeSwitch(RoutingCategory? category, string? scenario, bool toPrimary) => _owner.SetRuntimeSwitch(category, scenario, toPrimary);

    internal bool FollowPromotion(RoutingPool promoted) => _owner.FollowPromotion(promoted);

    internal void ApplyDiscovered(IReadOnlyList<Discovery.PatroniMember> members) => _owner.ApplyDiscovered(members);

    public string ClusterState => _primary.ClusterState;

    public ValueTask<RoutingPool> PrimaryAsync(CancellationToken cancellationToken) => _primary.PrimaryAsync(cancellationToken);

    public long PrimaryWaitDeadline() => _primary.Deadline();

    public void PrimaryFailed(RoutingPool failed, string problem) => _primary.Failed(failed, problem);

    public ValueTask WaitForPrimaryAfterFailure(RoutingPool failed, Exception failure, long deadline, bool async, CancellationToken cancellationToken) =>
        _primary.AfterFailure(failed, failure, deadline, async, cancellationToken);

    /// <summary>Read-your-writes for asynchronous replicas (uses each pool's own data source).</summary>
    public Consistency.CausalReadGate Gate { get; } = new();

    public RouteDecision Decide(in RouteRequest request) => Decide(request, RoutingScope.Current);

    /// <summary>
    /// The one decision path, used by EF Core and <see cref="RoutingDataSource"/> alike: decides, lets the read-your-writes
    /// gate revise an asynchronous-replica read, and records the decision (operation state, metrics, log, observers).
    /// </summary>
    public RouteDecision Decide(in RouteRequest request, RoutingScope? scope, RoutingPool? exclude = null)
    {
        var pending = Route(request, scope, exclude, async: false, CancellationToken.None);
        System.Diagnostics.Debug.Assert(pending.IsCompleted, "the synchronous path never awaits");
        return pending.GetAwaiter().GetResult();
    }

    /// <summary>Asynchronous form of <see cref="Decide(in RouteRequest, RoutingScope?, RoutingPool?)"/>: never blocks a thread.</summary>
    public ValueTask<RouteDecision> DecideAsync(RouteRequest request, RoutingScope? scope, RoutingPool? exclude, CancellationToken cancellationToken) =>
        Route(request, scope, exclude, async: true, cancellationToken);

    private async ValueTask<RouteDecision> Route(RouteRequest request, RoutingScope? scope, RoutingPool? exclude, bool async, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _monitorEnsured) == 0)
        {
            EnsureMonitor();
        }

        // No primary right now (an election): wait for one, bounded; nothing has been sent. The wait covers the
        // final decision, after the read-your-writes gate revised it: a revision to the primary waits too.
        long deadline = 0;
        RouteDecision decision;
        while (true)
        {
            decision = DecideCore(request, scope, exclude);
            if (!decision.AwaitsPrimary && decision.Pool.Role == PoolRole.AsyncReplica)
            {
                switch (await Gate.MayRead(this, decision.Pool, scope, async, cancellationToken).ConfigureAwait(false))
                {
                    case Consistency.CausalReadGate.Answer.AvoidAsyncReplicas:
                        decision = DecideCore(request with { AvoidAsyncReplicas = true }, scope, exclude);
                        break;
                    case Consistency.CausalReadGate.Answer.Primary:
                        decision = new RouteDecision(
                            PrimaryWait.Pick(_owner.Topology), RouteDecisionReason.ReplicaBehindOperationWrites, decision.Route, decision.RequestedRoute, decision.Category, decision.Scenario);
                        break;
                }
            }

            if (!decision.AwaitsPrimary)
            {
                break;
            }

            deadline = deadline == 0 ? _primary.Deadline() : deadline;
            if (!await _primary.WaitForChange(deadline, async, cancellationToken).ConfigureAwait(false))
            {
                throw new PrimaryUnavailableException(ClusterState, _owner.Topology.Options.Failover.PrimaryWaitTimeout, null);
            }
        }

        Record(decision, scope);
        return decision;
    }

    /// <summary>
    /// Whether a decision hands out a connection that may write: a write, a transaction, a connection the caller
    /// opened, or a plain ADO.NET connection on the primary. Everything else is a read.
    /// </summary>
    public static bool MayWrite(RouteDecisionReason reason) => reason is RouteDecisionReason.WriteCommand or RouteDecisionReason.InsideTransaction
        or RouteDecisionReason.UserOpenedConnection or RouteDecisionReason.ConnectionNotExplicitlyRouted;

    /// <summary>Makes a decision count: operation state, metrics, the Debug log and observers.</summary>
    private void Record(in RouteDecision decision, RoutingScope? scope)
    {
        // Read-your-writes: later async-replica reads of this operation must see what it (may have) written.
        if (MayWrite(decision.Reason))
        {
            scope?.Operation.MarkWrite();
        }

        Metrics.Record(decision);
        RoutingMetrics.Trace(decision);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            RoutingLog.Decision(_logger, decision.Pool.DisplayName, decision.Reason, decision.Route, decision.Category, decision.Scenario);
        }

        foreach (var observer in _observers)
        {
            observer.OnDecision(decision);
        }
    }

    private RouteDecision DecideCore(in RouteRequest request, RoutingScope? scope, RoutingPool? exclude)
    {
        var topology = _owner.Topology;
        var requested = scope?.RequestedRoute ?? RouteKind.Default;
        var route = scope?.Route ?? RouteKind.Default;
        var category = scope?.Category ?? RoutingCategory.Other;
        var scenario = scope?.Scenario;

        RouteDecision Primary(RouteDecisionReason reason, RouteKind effective) =>
            new(PrimaryWait.Pick(topology), reason, effective, requested, category, scenario);

        // Rows 1-2: writes and anything inside a transaction go to the primary, whatever the route.
        if (request.IsWrite)
        {
            return Primary(RouteDecisionReason.WriteCommand, route);
        }

        if (request.InTransaction)
        {
            return Primary(RouteDecisionReason.InsideTransaction, route);
        }

        // Before [MasterOnly]: a connection the caller opened (BeginTransaction included) may write, and the reason
        // says so to read-your-writes and to the operations page's write count.
        if (request.UserOpenedConnection)
        {
            return Primary(RouteDecisionReason.UserOpenedConnection, route);
        }

        // Runtime overrides only tighten the route; a pinned pool replaces the weighted spread.
        RoutingPool? pinned = null;
        var overridden = false;
        if (topology.HasOverrides && FindOverride(topology, scenario, category) is { } ov)
        {
            if (ov.Route is RouteKind overrideRoute && RouteStrictness.Of(overrideRoute) > RouteStrictness.Of(route))
            {
                route = overrideRoute;
                overridden = true;
            }

            pinned = ov.Pool;
        }

        if (route == RouteKind.MasterOnly)
        {
            var reason = overridden ? RouteDecisionReason.OverriddenByConfiguration
                : scope is { IsOverridden: true } ? RouteDecisionReason.StricterOuterScope
                : RouteDecisionReason.MasterOnlyScope;
            return Primary(reason, route);
        }

        if (request.PrimaryRequested)
        {
            return Primary(RouteDecisionReason.QueryMarkedForPrimary, route);
        }

        if (request.ReplicationUnconfirmed || scope?.ExistingOperation is { ReplicationUnconfirmed: true })
        {
            return Primary(RouteDecisionReason.ReplicationNotConfirmed, route);
        }

        // A cancelled read: first another replica (the failed one excluded), then the primary.
        if (request.RetryAttempt >= 2)
        {
            return Primary(RouteDecisionReason.RetryAfterRecoveryConflict, route);
        }

        if (route == RouteKind.Default)
        {
            // ADO.NET cannot tell reads from writes: only an explicit replica route may leave the primary.
            if (request.ExplicitRouteRequired)
            {
                return Primary(RouteDecisionReason.ConnectionNotExplicitlyRouted, route);
            }

            if (topology.DefaultRoute == DefaultRoute.Primary)
            {
                return Primary(RouteDecisionReason.DefaultRouteMaster, route);
            }
        }

        // A pinned asynchronous replica obeys what any asynchronous read obeys: the operation's lag limit and the
        // read-your-writes gate (AvoidAsyncReplicas).
        var ignoredLag = ReplicaPicker.LagSeen.None;
        if (pinned is not null && !ReplicaPicker.IsExcluded(pinned, exclude) && pinned.Health.IsAvailable
            && (pinned.Role != PoolRole.AsyncReplica
                || (route != RouteKind.ReadReplica && !request.AvoidAsyncReplicas && ReplicaPicker.IsUsableAsync(pinned, scope?.MaxLagMilliseconds, exclude, ref ignoredLag))))
        {
            return new(pinned, RouteDecisionReason.OverriddenByConfiguration, route, requested, category, scenario);
        }

        var fallbackReason = RouteDecisionReason.ReadOutsideTransaction;
        if (request.RetryAttempt > 0)
        {
            fallbackReason = RouteDecisionReason.RetryAfterRecoveryConflict;
        }
        else if (route == RouteKind.AsyncReplica && request.AvoidAsyncReplicas)
        {
            fallbackReason = RouteDecisionReason.ReplicaBehindOperationWrites;
        }
        else if (route == RouteKind.AsyncReplica)
        {
            var asyncPool = _picker.PickAsync(topology.AsyncPools, scope?.MaxLagMilliseconds, exclude, out var lag);
            if (asyncPool is not null)
            {
                return new(asyncPool, RouteDecisionReason.AsyncReplicaRequested, route, requested, category, scenario);
            }

            // A lag measured above the limit, a lag nobody has measured yet (no monitor round so far), or no replica at all.
            fallbackReason = (lag & ReplicaPicker.LagSeen.High) != 0 ? RouteDecisionReason.LagAboveLimit
                : (lag & ReplicaPicker.LagSeen.Unknown) != 0 ? RouteDecisionReason.LagUnknown
                : RouteDecisionReason.AsyncReplicasUnavailable;
            if (fallbackReason == RouteDecisionReason.LagUnknown && Interlocked.Exchange(ref _lagUnknownWarned, 1) == 0)
            {
                RoutingLog.LagUnknown(_logger);
            }
        }
        else if (overridden)
        {
            fallbackReason = RouteDecisionReason.OverriddenByConfiguration;
        }
        else if (scope is { IsOverridden: true })
        {
            fallbackReason = RouteDecisionReason.StricterOuterScope;
        }

        foreach (var group in topology.ReadGroups)
        {
            var pool = _picker.PickWeighted(group, exclude);
            if (pool is not null)
            {
                return new(pool, fallbackReason, route, requested, category, scenario);
            }
        }

        return Primary(request.RetryAttempt > 0 ? RouteDecisionReason.RetryAfterRecoveryConflict : RouteDecisionReason.ReplicasUnavailable, route);
    }

    private static ResolvedOverride? FindOverride(RoutingTopology topology, string? scenario, RoutingCategory category)
    {
        if (scenario is not null && topology.ScenarioOverrides.TryGetValue(scenario, out var byScenario))
        {
            return byScenario;
        }

        return topology.CategoryOverrides.TryGetValue(category, out var byCategory) ? byCategory : null;
    }

    /// <summary>
    /// Without a generic host nobody starts the health monitor (an IHostedService), and lag, roles and readmission
    /// would never be checked: plain DI would be a different product. So the first decision starts it, in the
    /// background, unless a host is there to start it. It stops when the service provider is disposed.
    /// </summary>
    private void EnsureMonitor()
    {
        if (Interlocked.Exchange(ref _monitorEnsured, 1) != 0 || _services is null || !_owner.Topology.Options.Health.Enabled)
        {
            return;
        }

        if (_services.GetService(typeof(Microsoft.Extensions.Hosting.IHostApplicationLifetime)) is not null)
        {
            return; // the host starts it with its hosted services
        }

        if ((MonitorOverride ?? _services.GetService(typeof(Health.PoolHealthMonitor))) is Health.PoolHealthMonitor monitor)
        {
            RoutingLog.MonitorStartedOnFirstUse(_logger);

            // Not in the caller's execution context: its ambient TransactionScope would enlist the monitor's
            // connections (a distributed transaction), and its RoutingScope has nothing to do with health checks.
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(monitor.StartOnFirstUseAsync);
            }
        }
    }

    public void Dispose()
    {
        _owner.Dispose();
        Metrics.Dispose();
    }
}
