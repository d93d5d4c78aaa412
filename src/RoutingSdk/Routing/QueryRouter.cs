using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;

namespace RoutingSdk.Routing;

/// <summary>
/// The decision table: route + session facts + pool states + overrides → pool and reason.
/// Pure apart from the weighted random pick; the topology is an immutable snapshot swapped on reload.
/// </summary>
internal sealed class QueryRouter : IDisposable
{
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly IRouteDecisionObserver[] _observers;
    private readonly IDisposable? _reloadSubscription;
    private readonly PoolDataSources _dataSources;
    private volatile RoutingTopology _topology;
    private volatile TaskCompletionSource _topologyChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _applyLock = new();
    private RoutingOptions? _configured;
    private PoolHealthRegistry? _health;
    private Discovery.PatroniDiscovery? _discovery;
    private List<RoutingPoolOptions> _discoveredPools = [];
    private int _lagUnknownWarned;
    private int _monitorEnsured;
    private IServiceProvider? _services;
    private Dictionary<string, PoolRole> _observedRoles = new(StringComparer.OrdinalIgnoreCase);
    private string? _discoveredState;

    public QueryRouter(
        RoutingTopology topology, ILogger? logger = null, IEnumerable<IRouteDecisionObserver>? observers = null, Random? random = null, PoolDataSources? dataSources = null,
        RoutingMetrics? metrics = null)
    {
        Metrics = metrics ?? new RoutingMetrics();
        _topology = topology;
        _dataSources = dataSources ?? new PoolDataSources();
        _logger = logger ?? NullLogger.Instance;
        _observers = observers?.ToArray() ?? [];
        _random = random ?? Random.Shared;
    }

    /// <summary>DI constructor: builds from the current options and follows reloads.</summary>
    public QueryRouter(
        IOptionsMonitor<RoutingOptions> options, PoolHealthRegistry health, PoolDataSources dataSources, ILogger<QueryRouter> logger,
        IEnumerable<IRouteDecisionObserver> observers, IEnumerable<RoutingConfigurationWarning> warnings, IEnumerable<RoutingConfigurationSection> sections,
        IServiceProvider services, System.Diagnostics.Metrics.IMeterFactory? meterFactory = null)
        : this(RoutingTopology.Build(options.CurrentValue, health, dataSources), logger, observers, null, dataSources, new RoutingMetrics(meterFactory))
    {
        foreach (var warning in warnings)
        {
            RoutingLog.ConfigurationWarning(logger, warning.Message);
        }

        _configured = options.CurrentValue;
        _raw = _configured;
        _health = health;
        _services = services;
        if (_configured.Discovery.Patroni.Enabled)
        {
            StartDiscovery(_configured.Discovery.Patroni);
        }

        var subscriptions = new List<IDisposable> { options.OnChange(o => Reload(o, health))! };

        // A reload that cannot even be bound (a misspelt key) makes IOptionsMonitor throw inside its own change
        // callback, before our OnChange runs: say so here, or the edit would be ignored without a word.
        foreach (var section in sections)
        {
            subscriptions.Add(Microsoft.Extensions.Primitives.ChangeToken.OnChange(section.Section.GetReloadToken, () => CheckBinding(section.Section)));
        }

        _reloadSubscription = new CompositeDisposable(subscriptions);
    }

    private void CheckBinding(Microsoft.Extensions.Configuration.IConfiguration section)
    {
        try
        {
            Microsoft.Extensions.Configuration.ConfigurationBinder.Get<RoutingOptions>(section, b => b.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            // The binder names the unknown key in an inner exception.
            var messages = new List<string>();
            for (Exception? e = ex; e is not null; e = e.InnerException)
            {
                messages.Add(e.Message);
            }

            RoutingLog.ReloadRejected(_logger, string.Join(" ", messages));
        }
    }

    private sealed class CompositeDisposable(List<IDisposable> items) : IDisposable
    {
        public void Dispose() => items.ForEach(i => i.Dispose());
    }

    public RoutingTopology Topology => _topology;

    public ILogger Logger => _logger;

    public RoutingPool WritePool => PickWritePool(_topology);

    /// <summary>Applies new options; invalid ones are rejected with an error log and the previous snapshot stays.</summary>
    public bool Reload(RoutingOptions options, PoolHealthRegistry health)
    {
        try
        {
            var raw = options;
            var discovered = options.Discovery?.Patroni is { Enabled: true };
            RoutingTopology topology;
            lock (_applyLock)
            {
                // The runtime switches (operations page) are merged under the same lock that applies them, so a
                // configuration reload and a switch never overwrite each other.
                options = WithRuntimeSwitches(raw);
                // Validate the configuration itself first; then combine it with what discovery found, or with the roles
                // the monitor saw nodes take after a failover (a configuration edit should follow; until then, reality wins).
                topology = RoutingTopology.Build(options, health, _dataSources);
                if (discovered)
                {
                    topology = RoutingTopology.Build(options.WithPools(_discoveredPools), health, _dataSources, discovered: true);
                }
                else if (_observedRoles.Count > 0)
                {
                    topology = RoutingTopology.Build(WithObservedRoles(options), health, _dataSources);
                }

                _configured = options;
                _raw = raw; // only a valid configuration becomes the one switches are applied to
                SwapTopology(topology);
            }

            RoutingLog.Reloaded(_logger, topology.Pools.Length, topology.CategoryOverrides.Count + topology.ScenarioOverrides.Count);
            return true;
        }
        catch (RoutingConfigurationException ex)
        {
            RoutingLog.ReloadRejected(_logger, ex.Message);
            return false;
        }
    }

    private RoutingOptions? _raw;
    private System.Collections.Immutable.ImmutableSortedSet<RoutingCategory> _primaryCategories = [];
    private System.Collections.Immutable.ImmutableSortedSet<string> _primaryScenarios = System.Collections.Immutable.ImmutableSortedSet.Create<string>(StringComparer.Ordinal);

    /// <summary>The options as configured (without the runtime switches), or <see langword="null"/> before the first valid load.</summary>
    public RoutingOptions? ConfiguredOptions => _raw;

    /// <summary>Categories a runtime switch sends to the primary.</summary>
    public IReadOnlyCollection<RoutingCategory> PrimaryCategories => _primaryCategories;

    /// <summary>Scenarios a runtime switch sends to the primary.</summary>
    public IReadOnlyCollection<string> PrimaryScenarios => _primaryScenarios;

    /// <summary>
    /// A runtime switch (the operations page): sends a category's or a scenario's operations to the primary, or takes
    /// that switch back. Applied at once through the same overrides as configuration (it survives configuration
    /// reloads); like any override it only tightens, so taking it back never loosens what configuration says.
    /// </summary>
    public bool SetRuntimeSwitch(RoutingCategory? category, string? scenario, bool toPrimary)
    {
        lock (_applyLock) // Reload takes it again (re-entrant): no configuration reload can slip in between
        {
            if (category is { } c)
            {
                _primaryCategories = toPrimary ? _primaryCategories.Add(c) : _primaryCategories.Remove(c);
            }

            if (scenario is not null)
            {
                _primaryScenarios = toPrimary ? _primaryScenarios.Add(scenario) : _primaryScenarios.Remove(scenario);
            }

            return _raw is not null && _health is not null && Reload(_raw, _health);
        }
    }

    private RoutingOptions WithRuntimeSwitches(RoutingOptions options)
    {
        var categories = _primaryCategories;
        var scenarios = _primaryScenarios;
        if (categories.Count == 0 && scenarios.Count == 0)
        {
            return options;
        }

        var overrides = new RoutingOverrideOptions
        {
            Categories = new Dictionary<RoutingCategory, RouteOverride>(options.Overrides.Categories),
            Scenarios = new Dictionary<string, RouteOverride>(options.Overrides.Scenarios, StringComparer.Ordinal),
        };
        foreach (var c in categories)
        {
            overrides.Categories[c] = new RouteOverride { Route = RouteKind.MasterOnly };
        }

        foreach (var s in scenarios)
        {
            overrides.Scenarios[s] = new RouteOverride { Route = RouteKind.MasterOnly };
        }

        return options.WithOverrides(overrides);
    }

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
            if (!decision.Pool.IsPlaceholder && decision.Pool.Role == PoolRole.AsyncReplica)
            {
                switch (await Gate.MayRead(this, decision.Pool, scope, async, cancellationToken).ConfigureAwait(false))
                {
                    case Consistency.CausalReadGate.Answer.AvoidAsyncReplicas:
                        decision = DecideCore(request with { AvoidAsyncReplicas = true }, scope, exclude);
                        break;
                    case Consistency.CausalReadGate.Answer.Primary:
                        decision = new RouteDecision(
                            PickWritePool(_topology), RouteDecisionReason.ReplicaBehindOperationWrites, decision.Route, decision.RequestedRoute, decision.Category, decision.Scenario);
                        break;
                }
            }

            if (!decision.Pool.IsPlaceholder)
            {
                break;
            }

            deadline = deadline == 0 ? PrimaryWaitDeadline() : deadline;
            if (!await WaitForChange(deadline, async, cancellationToken).ConfigureAwait(false))
            {
                throw new PrimaryUnavailableException(ClusterState, _topology.Options.Failover.PrimaryWaitTimeout, null);
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
        var topology = _topology;
        var requested = scope?.RequestedRoute ?? RouteKind.Default;
        var route = scope?.Route ?? RouteKind.Default;
        var category = scope?.Category ?? RoutingCategory.Other;
        var scenario = scope?.Scenario;

        RouteDecision Primary(RouteDecisionReason reason, RouteKind effective) =>
            new(PickWritePool(topology), reason, effective, requested, category, scenario);

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
        var ignoredLag = LagSeen.None;
        if (pinned is not null && !IsExcluded(pinned, exclude) && pinned.Health.IsAvailable
            && (pinned.Role != PoolRole.AsyncReplica
                || (route != RouteKind.ReadReplica && !request.AvoidAsyncReplicas && IsUsableAsync(pinned, scope?.MaxLagMilliseconds, exclude, ref ignoredLag))))
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
            var asyncPool = PickAsync(topology.AsyncPools, scope?.MaxLagMilliseconds, exclude, out var lag);
            if (asyncPool is not null)
            {
                return new(asyncPool, RouteDecisionReason.AsyncReplicaRequested, route, requested, category, scenario);
            }

            // A lag measured above the limit, a lag nobody has measured yet (no monitor round so far), or no replica at all.
            fallbackReason = (lag & LagSeen.High) != 0 ? RouteDecisionReason.LagAboveLimit
                : (lag & LagSeen.Unknown) != 0 ? RouteDecisionReason.LagUnknown
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
            var pool = PickWeighted(group, exclude);
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

    private static RoutingPool PickWritePool(RoutingTopology topology)
    {
        // Highest priority healthy primary. With none healthy: configured pools hand out the first one anyway (a VIP or
        // multi-host string may reach a new primary on the next open); discovered pools hand out the placeholder, and
        // the write waits for Patroni's next leader instead of knocking on a dead or demoted node.
        foreach (var pool in topology.WritePools)
        {
            if (pool.Health.IsAvailable)
            {
                return pool;
            }
        }

        return topology.Discovered || topology.WritePools.Length == 0 ? topology.NoPrimary : topology.WritePools[0];
    }

    [Flags]
    private enum LagSeen
    {
        None = 0,
        High = 1,
        Unknown = 2,
    }

    private RoutingPool? PickAsync(RoutingPool[] pools, int? maxLagMilliseconds, RoutingPool? exclude, out LagSeen lagging)
    {
        lagging = LagSeen.None;
        double total = 0;
        foreach (var pool in pools)
        {
            if (IsUsableAsync(pool, maxLagMilliseconds, exclude, ref lagging))
            {
                total += pool.UsageRatio;
            }
        }

        if (total <= 0)
        {
            return null;
        }

        var target = _random.NextDouble() * total;
        RoutingPool? last = null;
        var ignored = LagSeen.None;
        foreach (var pool in pools)
        {
            if (!IsUsableAsync(pool, maxLagMilliseconds, exclude, ref ignored))
            {
                continue;
            }

            last = pool;
            target -= pool.UsageRatio;
            if (target < 0)
            {
                return pool;
            }
        }

        return last;
    }

    private static bool IsUsableAsync(RoutingPool pool, int? maxLagMilliseconds, RoutingPool? exclude, ref LagSeen lagging)
    {
        if (IsExcluded(pool, exclude) || !pool.Health.IsAvailable)
        {
            return false;
        }

        if (maxLagMilliseconds is int limit)
        {
            var lag = pool.Health.LagMilliseconds;
            // Unknown lag (NaN) never satisfies a limit.
            if (double.IsNaN(lag))
            {
                lagging |= LagSeen.Unknown;
                return false;
            }

            if (lag > limit)
            {
                lagging |= LagSeen.High;
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The pool a retry must avoid, by name: a reload or a Patroni refresh between attempts builds new pool objects
    /// for the same nodes, and the failed node must stay excluded across it.
    /// </summary>
    internal static bool IsExcluded(RoutingPool pool, RoutingPool? exclude) =>
        exclude is not null && (ReferenceEquals(pool, exclude) || string.Equals(pool.Name, exclude.Name, StringComparison.OrdinalIgnoreCase));

    private RoutingPool? PickWeighted(RoutingPool[] group, RoutingPool? exclude)
    {
        if (group.Length == 1)
        {
            var only = group[0];
            return !IsExcluded(only, exclude) && only.Health.IsAvailable ? only : null;
        }

        double total = 0;
        foreach (var pool in group)
        {
            if (!IsExcluded(pool, exclude) && pool.Health.IsAvailable)
            {
                total += pool.UsageRatio;
            }
        }

        if (total <= 0)
        {
            return null;
        }

        // An unavailable pool's share is spread over the remaining ones of its group (vendor section 2.3),
        // not dumped on the primary.
        var target = _random.NextDouble() * total;
        RoutingPool? last = null;
        foreach (var pool in group)
        {
            if (IsExcluded(pool, exclude) || !pool.Health.IsAvailable)
            {
                continue;
            }

            last = pool;
            target -= pool.UsageRatio;
            if (target < 0)
            {
                return pool;
            }
        }

        return last;
    }

    /// <summary>
    /// Without a generic host nobody starts the health monitor (an IHostedService), and lag, roles and readmission
    /// would never be checked: plain DI would be a different product. So the first decision starts it, in the
    /// background, unless a host is there to start it. It stops when the service provider is disposed.
    /// </summary>
    private void EnsureMonitor()
    {
        if (Interlocked.Exchange(ref _monitorEnsured, 1) != 0 || _services is null || !_topology.Options.Health.Enabled)
        {
            return;
        }

        if (_services.GetService(typeof(Microsoft.Extensions.Hosting.IHostApplicationLifetime)) is not null)
        {
            return; // the host starts it with its hosted services
        }

        if (_services.GetService(typeof(Health.PoolHealthMonitor)) is Health.PoolHealthMonitor monitor)
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

    /// <summary>This application's <c>RoutingSdk</c> meter and instruments.</summary>
    public RoutingMetrics Metrics { get; }

    /// <summary>What RoutingSdk knows of the cluster, for messages: Patroni's members, or the primary pools' health.</summary>
    public string ClusterState
    {
        get
        {
            if (_discovery is not null)
            {
                return _discovery.LastProblem is { } problem ? $"{problem}; last known: {_discoveredState ?? "nothing yet"}" : _discoveredState ?? "Patroni has not answered yet";
            }

            var primaries = _topology.WritePools;
            return primaries.Length == 0
                ? "no pool has Role=Primary"
                : string.Join(", ", primaries.Select(p => $"{p.DisplayName}: {(p.Health.IsAvailable ? "available" : "evicted")}{(p.Health.LastProblem is { } why ? " (" + why + ")" : "")}"));
        }
    }

    /// <summary>The primary, waiting for one (bounded by Failover.PrimaryWaitTimeout) while there is none (an election).</summary>
    public async ValueTask<RoutingPool> PrimaryAsync(CancellationToken cancellationToken)
    {
        long deadline = 0;
        while (true)
        {
            var primary = PickWritePool(_topology);
            if (!primary.IsPlaceholder)
            {
                return primary;
            }

            deadline = deadline == 0 ? PrimaryWaitDeadline() : deadline;
            if (!await WaitForChange(deadline, async: true, cancellationToken).ConfigureAwait(false))
            {
                throw new PrimaryUnavailableException(ClusterState, _topology.Options.Failover.PrimaryWaitTimeout, null);
            }
        }
    }

    /// <summary>When a write that starts now stops waiting for a primary (Environment.TickCount64).</summary>
    public long PrimaryWaitDeadline() => Environment.TickCount64 + (long)_topology.Options.Failover.PrimaryWaitTimeout.TotalMilliseconds;

    /// <summary>The primary's connection failed: takes the pool out and drops its idle connections (they point at a dead or demoted node).</summary>
    public void PrimaryFailed(RoutingPool failed, string problem)
    {
        if (failed.Health.Evict(problem))
        {
            Metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", failed.Name));
            RoutingLog.PrimaryLost(_logger, failed.DisplayName, problem);
        }

        _dataSources.Clear(failed.Name, failed.ConnectionString);
    }

    /// <summary>
    /// After a primary connection failed with nothing sent (it did not open, or the node refused a write as read-only):
    /// <see cref="PrimaryFailed"/>, then waits a moment or for a topology change before the caller tries again.
    /// Past <paramref name="deadline"/> it throws <see cref="PrimaryUnavailableException"/>.
    /// </summary>
    public async ValueTask WaitForPrimaryAfterFailure(RoutingPool failed, Exception failure, long deadline, bool async, CancellationToken cancellationToken)
    {
        PrimaryFailed(failed, failure.Message);
        if (!await WaitForChange(deadline, async, cancellationToken).ConfigureAwait(false))
        {
            throw new PrimaryUnavailableException(ClusterState, _topology.Options.Failover.PrimaryWaitTimeout, failure);
        }
    }

    /// <summary>Waits for a topology change or a short poll interval, whichever comes first; false when the deadline passed.</summary>
    private async ValueTask<bool> WaitForChange(long deadline, bool async, CancellationToken cancellationToken)
    {
        var remaining = deadline - Environment.TickCount64;
        if (remaining <= 0)
        {
            return false;
        }

        var wait = TimeSpan.FromMilliseconds(Math.Min(remaining, 250));
        var changed = _topologyChanged.Task;
        if (async)
        {
            await Task.WhenAny(changed, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
        else
        {
            changed.Wait(wait, cancellationToken);
        }

        return true;
    }

    private void SwapTopology(RoutingTopology topology)
    {
        _topology = topology;
        Interlocked.Exchange(ref _topologyChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private void StartDiscovery(PatroniDiscoveryOptions options)
    {
        _discovery = new Discovery.PatroniDiscovery(options);
        _discovery.Start(ApplyDiscovered, problem => RoutingLog.DiscoveryFailed(_logger, problem));
    }

    /// <summary>
    /// Without discovery: the monitor saw a configured replica answer as a primary while no configured primary does
    /// (a failover behind RoutingSdk's back). Follow it: that pool becomes the Primary, the unreachable or demoted
    /// primaries become SyncReplica pools (read again only once the monitor finds them covered by
    /// synchronous_standby_names). Kept across reloads until the configuration says the same.
    /// </summary>
    internal bool FollowPromotion(RoutingPool promoted)
    {
        lock (_applyLock)
        {
            var current = _topology;
            if (_configured is null || _health is null || current.Discovered || promoted.IsPlaceholder || promoted.Role == PoolRole.Primary)
            {
                return false;
            }

            var roles = new Dictionary<string, PoolRole>(_observedRoles, StringComparer.OrdinalIgnoreCase) { [promoted.Name] = PoolRole.Primary };
            foreach (var old in current.WritePools)
            {
                if (!old.IsPlaceholder && !string.Equals(old.Name, promoted.Name, StringComparison.OrdinalIgnoreCase))
                {
                    roles[old.Name] = PoolRole.SyncReplica;
                    _dataSources.Clear(old.Name, old.ConnectionString);
                }
            }

            var previous = _observedRoles;
            _observedRoles = roles;
            try
            {
                var topology = RoutingTopology.Build(WithObservedRoles(_configured), _health, _dataSources);
                topology.FindPool(promoted.Name)?.Health.MarkAvailable();
                SwapTopology(topology);
            }
            catch (RoutingConfigurationException ex)
            {
                _observedRoles = previous;
                RoutingLog.ReloadRejected(_logger, ex.Message);
                return false;
            }

            RoutingLog.PromotionFollowed(_logger, promoted.DisplayName, string.Join(", ", roles.Select(r => $"{r.Key} → {r.Value}")));
            return true;
        }
    }

    private RoutingOptions WithObservedRoles(RoutingOptions options) =>
        options.WithPools(options.Pools.Select(p => _observedRoles.TryGetValue(p.Name, out var role) && role != p.Role ? p.WithRole(role) : p).ToList());

    /// <summary>Turns Patroni's members into the topology, if they changed.</summary>
    internal void ApplyDiscovered(IReadOnlyList<Discovery.PatroniMember> members)
    {
        var state = Discovery.PatroniDiscovery.Describe(members);
        lock (_applyLock)
        {
            if (state == _discoveredState || _configured is null || _health is null)
            {
                return;
            }

            var pools = Discovery.PatroniDiscovery.ToPools(members, _configured.Discovery.Patroni.Template ?? new RoutingPoolOptions());
            RoutingTopology topology;
            try
            {
                topology = RoutingTopology.Build(_configured.WithPools(pools), _health, _dataSources, discovered: true);
            }
            catch (RoutingConfigurationException ex)
            {
                RoutingLog.DiscoveryFailed(_logger, ex.Message);
                return;
            }

            var previous = _topology;
            foreach (var pool in topology.Pools)
            {
                // Patroni's word on a member that appears or changes role replaces an eviction made under its old role.
                if (previous.FindPool(pool.Name) is not { } before || before.Role != pool.Role)
                {
                    pool.Health.MarkAvailable();
                }
            }

            foreach (var old in previous.WritePools)
            {
                // A demoted or vanished primary: drop its idle connections so that no later write meets 25006 or a dead socket.
                if (!old.IsPlaceholder && topology.FindPool(old.Name) is not { Role: PoolRole.Primary })
                {
                    _dataSources.Clear(old.Name, old.ConnectionString);
                }
            }

            _discoveredPools = pools;
            _discoveredState = state;
            SwapTopology(topology);
            RoutingLog.Discovered(_logger, state);
        }
    }

    public void Dispose()
    {
        _reloadSubscription?.Dispose();
        _discovery?.Dispose();
        Metrics.Dispose();
    }

    /// <summary>The data sources of every pool (one per pool, shared by all components).</summary>
    public PoolDataSources DataSources => _dataSources;
}
