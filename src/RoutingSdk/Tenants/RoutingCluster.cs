using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RoutingSdk.Health;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Tenants;

/// <summary>
/// One cluster's routing: its route table and topology (<see cref="QueryRouter"/>), health monitor, pool health and
/// data sources. With one cluster configured there is exactly one, made from the application's DI registrations; with
/// several (<see cref="RoutingOptions.Clusters"/>), <see cref="ClusterSet"/> makes one per name.
/// </summary>
internal sealed class RoutingCluster
{
    private readonly Lazy<PoolHealthMonitor?> _monitor;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TenantSlots> _tenants = new(StringComparer.OrdinalIgnoreCase);

    public RoutingCluster(string? name, QueryRouter router, Func<PoolHealthMonitor?> monitor, bool owned)
    {
        Name = name;
        Router = router;
        _monitor = new Lazy<PoolHealthMonitor?>(monitor);
        Owned = owned;
    }

    /// <summary>The cluster's name in <see cref="RoutingOptions.Clusters"/>; <see langword="null"/> for the one cluster of a single-cluster configuration.</summary>
    public string? Name { get; }

    /// <summary>For messages: the name, or "the cluster".</summary>
    public string DisplayName => Name is null ? "the cluster" : $"cluster '{Name}'";

    public QueryRouter Router { get; }

    public PoolHealthMonitor? Monitor => _monitor.Value;

    /// <summary>The pools' health (a cluster made by <see cref="ClusterSet"/>; the DI container's for the one cluster).</summary>
    public PoolHealthRegistry? Registry { get; init; }

    /// <summary>The pools' data sources (a cluster made by <see cref="ClusterSet"/>; the DI container's for the one cluster).</summary>
    public PoolDataSources? DataSources { get; init; }

    /// <summary>Made (and disposed) by <see cref="ClusterSet"/>, not by the DI container.</summary>
    public bool Owned { get; }

    /// <summary>The connection slots and load of a tenant on this cluster.</summary>
    public TenantSlots Slots(string tenant, IReadOnlyDictionary<string, RoutingCluster> map)
    {
        if (_tenants.TryGetValue(tenant, out var slots))
        {
            return slots;
        }

        // Tenants served by the default cluster without a map entry may be many and short-lived (a header's values):
        // past a bound, the idle ones are forgotten (their counters with them) instead of being kept for good.
        if (_tenants.Count >= MaxTrackedTenants)
        {
            foreach (var entry in _tenants)
            {
                if (!map.ContainsKey(entry.Key) && entry.Value.TryRetire())
                {
                    _tenants.TryRemove(entry);
                }
            }
        }

        return _tenants.GetOrAdd(tenant, static (t, cluster) => new TenantSlots(t, cluster), this);
    }

    /// <summary>How many tenants a cluster tracks before it forgets idle tenants that are not in the map.</summary>
    internal const int MaxTrackedTenants = 1_000;

    /// <summary>Every tenant seen on this cluster, with its load.</summary>
    public IEnumerable<TenantSlots> Tenants => _tenants.Values;

    public override string ToString() => DisplayName;

    /// <summary>A cluster of a several-cluster configuration: its own router (on its entry of the options), pool health, data sources and health monitor.</summary>
    public static RoutingCluster Create(IServiceProvider services, string name, IEnumerable<RoutingConfigurationSection> sections)
    {
        var root = services.GetRequiredService<IOptionsMonitor<RoutingOptions>>();
        var registry = new PoolHealthRegistry();
        var dataSources = new PoolDataSources(services.GetServices<DataSourceConfiguration>(), services) { ClusterName = name };
        var router = new QueryRouter(
            new ClusterOptionsMonitor(root, name), registry, dataSources, services.GetRequiredService<ILogger<QueryRouter>>(),
            services.GetServices<IRouteDecisionObserver>(), [], sections, services, services.GetService<System.Diagnostics.Metrics.IMeterFactory>(), name);
        var monitor = new PoolHealthMonitor(router, registry, services.GetRequiredService<ILogger<PoolHealthMonitor>>());
        router.MonitorOverride = monitor;
        return new RoutingCluster(name, router, () => monitor, owned: true) { Registry = registry, DataSources = dataSources };
    }
}
