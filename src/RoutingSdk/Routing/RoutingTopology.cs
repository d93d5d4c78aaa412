using Npgsql;
using RoutingSdk.Configuration;
using RoutingSdk.Pools;

namespace RoutingSdk.Routing;

/// <summary>An immutable snapshot of validated options: the pools grouped for fast decisions, and the overrides.</summary>
internal sealed class RoutingTopology
{
    private RoutingTopology(
        RoutingPool[] pools, RoutingPool[] writePools, RoutingPool[][] readGroups, RoutingPool[] asyncPools,
        Dictionary<RoutingCategory, ResolvedOverride> categoryOverrides, Dictionary<string, ResolvedOverride> scenarioOverrides, RoutingOptions options)
    {
        Options = options;
        var defaultRoute = options.DefaultRoute;
        Pools = pools;
        WritePools = writePools;
        ReadGroups = readGroups;
        AsyncPools = asyncPools;
        CategoryOverrides = categoryOverrides;
        ScenarioOverrides = scenarioOverrides;
        DefaultRoute = defaultRoute;
        HasOverrides = categoryOverrides.Count > 0 || scenarioOverrides.Count > 0;
    }

    public RoutingPool[] Pools { get; }

    /// <summary>Pools that accept transactions (the primary), highest priority first.</summary>
    public RoutingPool[] WritePools { get; }

    /// <summary>Pools that accept no-transaction sessions, grouped by priority, highest first.</summary>
    public RoutingPool[][] ReadGroups { get; }

    public RoutingPool[] AsyncPools { get; }

    public Dictionary<RoutingCategory, ResolvedOverride> CategoryOverrides { get; }

    public Dictionary<string, ResolvedOverride> ScenarioOverrides { get; }

    public bool HasOverrides { get; }

    public DefaultRoute DefaultRoute { get; }

    /// <summary>The validated options this snapshot was built from (retry, health and consistency settings).</summary>
    public RoutingOptions Options { get; }

    public RoutingPool? FindPool(string name)
    {
        foreach (var pool in Pools)
        {
            if (string.Equals(pool.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return pool;
            }
        }

        return null;
    }

    /// <exception cref="RoutingConfigurationException">The options are invalid; the message lists every problem.</exception>
    /// <summary>The options were completed by discovery (Patroni): a set without a leader is valid then.</summary>
    public bool Discovered { get; private init; }

    public static RoutingTopology Build(RoutingOptions options, PoolHealthRegistry health, PoolDataSources? dataSources = null, bool discovered = false)
    {
        var errors = RoutingOptionsValidator.Collect(options, discovered);
        if (errors.Count > 0)
        {
            throw new RoutingConfigurationException(errors);
        }

        dataSources ??= new PoolDataSources();
        var pools = options.Pools.Select(p => new RoutingPool(p, ApplySizing(p), health.For(p.Name), dataSources)).ToArray();
        var writePools = pools.Where(p => p.AcceptTxSession).OrderByDescending(p => p.Priority).ToArray();
        var readGroups = pools.Where(p => p.AcceptNoTxSession)
            .GroupBy(p => p.Priority)
            .OrderByDescending(g => g.Key)
            .Select(g => g.ToArray())
            .ToArray();
        var asyncPools = pools.Where(p => p.Role == PoolRole.AsyncReplica).ToArray();

        // A discovered set may lack the member an override names (it is down): the override's route still applies.
        ResolvedOverride Resolve(RouteOverride o) =>
            new(o.Route, o.Pool is null ? null : pools.FirstOrDefault(p => string.Equals(p.Name, o.Pool, StringComparison.OrdinalIgnoreCase)));

        var categories = (options.Overrides?.Categories ?? []).ToDictionary(kv => kv.Key, kv => Resolve(kv.Value));
        var scenarios = (options.Overrides?.Scenarios ?? []).ToDictionary(kv => kv.Key, kv => Resolve(kv.Value), StringComparer.Ordinal);
        return new RoutingTopology(pools, writePools, readGroups, asyncPools, categories, scenarios, options) { Discovered = discovered };
    }

    private static string ApplySizing(RoutingPoolOptions pool)
    {
        var csb = new NpgsqlConnectionStringBuilder(pool.ConnectionString);
        if (pool.MinPoolSize is int min)
        {
            csb.MinPoolSize = min;
        }

        if (pool.MaxPoolSize is int max)
        {
            csb.MaxPoolSize = max;
        }

        if (pool.PoolTimeoutSeconds is int timeout)
        {
            csb.Timeout = timeout;
        }

        if (pool.InactiveConnectionTimeoutSeconds is int idle)
        {
            csb.ConnectionIdleLifetime = idle;
        }

        if (pool.PruningIntervalSeconds is int pruning)
        {
            csb.ConnectionPruningInterval = pruning;
        }

        return csb.ConnectionString;
    }
}

internal sealed record ResolvedOverride(RouteKind? Route, RoutingPool? Pool);
