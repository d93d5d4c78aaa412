using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;

namespace RoutingSdk.Routing;

/// <summary>
/// The one place the topology changes: configuration reloads, runtime switches (the operations page), Patroni
/// discovery (started and stopped by reloads too), promotions the health monitor observed, and the lifetime of the
/// data sources the topology's pools use. Every change is made under one lock and published as a new immutable
/// <see cref="RoutingTopology"/>; readers (the route table, waits for a primary) only ever read <see cref="Topology"/>.
/// </summary>
internal sealed class TopologyOwner : IDisposable
{
    /// <summary>How long a retired data source stays usable for attempts that picked its pool just before the change.</summary>
    internal static readonly TimeSpan RetirementGrace = TimeSpan.FromSeconds(30);

    private readonly PoolDataSources _dataSources;
    private readonly ILogger _logger;
    private readonly object _applyLock = new();
    private volatile RoutingTopology _topology;
    private volatile TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IDisposable? _reloadSubscription;
    private RoutingOptions? _configured;
    private RoutingOptions? _raw;
    private PoolHealthRegistry? _health;
    private Discovery.PatroniDiscovery? _discovery;
    private List<RoutingPoolOptions> _discoveredPools = [];
    private Dictionary<string, PoolRole> _observedRoles = new(StringComparer.OrdinalIgnoreCase);
    private string? _discoveredState;
    private System.Collections.Immutable.ImmutableSortedSet<RoutingCategory> _primaryCategories = [];
    private System.Collections.Immutable.ImmutableSortedSet<string> _primaryScenarios = System.Collections.Immutable.ImmutableSortedSet.Create<string>(StringComparer.Ordinal);

    public TopologyOwner(RoutingTopology topology, PoolDataSources dataSources, ILogger logger)
    {
        _topology = topology;
        _dataSources = dataSources;
        _logger = logger;
    }

    public RoutingTopology Topology => _topology;

    /// <summary>Completes at the next topology change.</summary>
    public Task Changed => _changed.Task;

    /// <summary>The options as configured (without the runtime switches), or <see langword="null"/> before the first valid load.</summary>
    public RoutingOptions? ConfiguredOptions => _raw;

    /// <summary>Categories a runtime switch sends to the primary.</summary>
    public IReadOnlyCollection<RoutingCategory> PrimaryCategories => _primaryCategories;

    /// <summary>Scenarios a runtime switch sends to the primary.</summary>
    public IReadOnlyCollection<string> PrimaryScenarios => _primaryScenarios;

    /// <summary>Patroni's last answer (or problem) when discovery runs; null otherwise.</summary>
    public string? DiscoveryState => _discovery is null ? null
        : _discovery.LastProblem is { } problem ? $"{problem}; last known: {_discoveredState ?? "nothing yet"}" : _discoveredState ?? "Patroni has not answered yet";

    /// <summary>Follows <paramref name="options"/> (the DI path): starts discovery if configured, applies every reload.</summary>
    public void Follow(IOptionsMonitor<RoutingOptions> options, PoolHealthRegistry health, IEnumerable<RoutingConfigurationSection> sections)
    {
        lock (_applyLock)
        {
            _configured = options.CurrentValue;
            _raw = _configured;
            _health = health;
            if (_configured.Discovery.Patroni.Enabled)
            {
                StartDiscovery(_configured.Discovery.Patroni);
            }
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

    /// <summary>Applies new options; invalid ones are rejected with an error log and the previous snapshot stays.</summary>
    public bool Reload(RoutingOptions options, PoolHealthRegistry health)
    {
        try
        {
            var raw = options;
            var patroni = options.Discovery?.Patroni;
            var discovered = patroni is { Enabled: true };
            RoutingTopology topology;
            lock (_applyLock)
            {
                // The runtime switches (operations page) are merged under the same lock that applies them, so a
                // configuration reload and a switch never overwrite each other.
                options = WithRuntimeSwitches(raw);

                // Validate the configuration itself first; then combine it with what discovery found, or with the roles
                // the monitor saw nodes take after a failover (a configuration edit should follow; until then, reality wins).
                topology = RoutingTopology.Build(options, health, _dataSources);
                if (discovered && _discoveredPools.Count > 0)
                {
                    topology = RoutingTopology.Build(options.WithPools(_discoveredPools), health, _dataSources, discovered: true);
                }
                else if (discovered && _configured is { Discovery.Patroni.Enabled: false } previous)
                {
                    // Discovery switched on by this reload: keep serving from the pools configured so far until Patroni
                    // has answered (an empty topology meanwhile would be an outage).
                    topology = RoutingTopology.Build(options.WithPools(previous.Pools), health, _dataSources, discovered: true);
                }
                else if (!discovered && _observedRoles.Count > 0)
                {
                    topology = RoutingTopology.Build(WithObservedRoles(options), health, _dataSources);
                }

                // Discovery follows the configuration: started when switched on, stopped when switched off (its
                // poller would otherwise keep replacing the configured pools).
                if (discovered && _discovery is null)
                {
                    StartDiscovery(patroni!);
                }
                else if (!discovered && _discovery is not null)
                {
                    _discovery.Dispose();
                    _discovery = null;
                    _discoveredPools = [];
                    _discoveredState = null;
                }

                _configured = options;
                _raw = raw; // only a valid configuration becomes the one switches are applied to
                _health = health;
                Swap(topology);
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

    /// <summary>
    /// A runtime switch (the operations page): sends a category's or a scenario's operations to the primary, or takes
    /// that switch back. Applied at once through the same overrides as configuration (it survives configuration
    /// reloads); like any override it only tightens. A switch that cannot be applied (the configuration it would be
    /// merged into is invalid) is not kept.
    /// </summary>
    public bool SetRuntimeSwitch(RoutingCategory? category, string? scenario, bool toPrimary)
    {
        lock (_applyLock) // Reload takes it again (re-entrant): no configuration reload can slip in between
        {
            var (categories, scenarios) = (_primaryCategories, _primaryScenarios);
            if (category is { } c)
            {
                _primaryCategories = toPrimary ? _primaryCategories.Add(c) : _primaryCategories.Remove(c);
            }

            if (scenario is not null)
            {
                _primaryScenarios = toPrimary ? _primaryScenarios.Add(scenario) : _primaryScenarios.Remove(scenario);
            }

            if (_raw is not null && _health is not null && Reload(_raw, _health))
            {
                return true;
            }

            (_primaryCategories, _primaryScenarios) = (categories, scenarios);
            return false;
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

    /// <summary>
    /// Without discovery: the monitor saw a configured replica answer as a primary while no configured primary does
    /// (a failover behind RoutingSdk's back). Follow it: that pool becomes the Primary, the unreachable or demoted
    /// primaries become SyncReplica pools (read again only once the monitor finds them covered by
    /// synchronous_standby_names). Kept across reloads until the configuration says the same.
    /// </summary>
    public bool FollowPromotion(RoutingPool promoted)
    {
        lock (_applyLock)
        {
            var current = _topology;
            if (_configured is null || _health is null || current.Discovered || promoted.Role == PoolRole.Primary)
            {
                return false;
            }

            var roles = new Dictionary<string, PoolRole>(_observedRoles, StringComparer.OrdinalIgnoreCase) { [promoted.Name] = PoolRole.Primary };
            foreach (var old in current.WritePools)
            {
                if (!string.Equals(old.Name, promoted.Name, StringComparison.OrdinalIgnoreCase))
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
                Swap(topology);
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
    public void ApplyDiscovered(IReadOnlyList<Discovery.PatroniMember> members)
    {
        var state = Discovery.PatroniDiscovery.Describe(members);
        lock (_applyLock)
        {
            if (state == _discoveredState || _configured is null || _health is null || _discovery is null && _configured.Discovery.Patroni is { Enabled: false })
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
                if (topology.FindPool(old.Name) is not { Role: PoolRole.Primary })
                {
                    _dataSources.Clear(old.Name, old.ConnectionString);
                }
            }

            _discoveredPools = pools;
            _discoveredState = state;
            Swap(topology);
            RoutingLog.Discovered(_logger, state);
        }
    }

    /// <summary>
    /// Publishes a topology, wakes whoever waits for a change, and retires the data sources of nodes the new topology
    /// no longer has (a changed connection string, a Patroni member on a new host): their idle connections are closed
    /// now, and the data source is disposed after <see cref="RetirementGrace"/>.
    /// </summary>
    private void Swap(RoutingTopology topology)
    {
        var previous = _topology;
        _topology = topology;
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        foreach (var old in previous.Pools)
        {
            if (!topology.Pools.Any(p => string.Equals(p.Name, old.Name, StringComparison.Ordinal) && p.ConnectionString == old.ConnectionString))
            {
                _dataSources.Retire(old.Name, old.ConnectionString, RetirementGrace);
            }
        }
    }

    private void StartDiscovery(PatroniDiscoveryOptions options)
    {
        _discovery = new Discovery.PatroniDiscovery(options);
        _discovery.Start(ApplyDiscovered, problem => RoutingLog.DiscoveryFailed(_logger, problem));
    }

    public void Dispose()
    {
        _reloadSubscription?.Dispose();
        lock (_applyLock)
        {
            _discovery?.Dispose();
            _discovery = null;
        }
    }
}
