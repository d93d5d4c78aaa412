using System.Text.Json;
using Npgsql;
using RoutingSdk.Routing;

namespace RoutingSdk.AspNetCore.Dashboard;

/// <summary>The JSON the page polls. Endpoints are host:port/database; no connection string or password is ever included.</summary>
internal static class DashboardStatus
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    public static string Build(QueryRouter router, RoutingActivityCollector collector, bool switchesEnabled) =>
        Build(new RoutingSdk.Tenants.RoutingCluster(null, router, () => null, owned: false), new RoutingSdk.Tenants.ClusterSet(router), collector, switchesEnabled);

    /// <summary>The status of one cluster, with the list of clusters (several configured) and its busiest tenants.</summary>
    public static string Build(RoutingSdk.Tenants.RoutingCluster cluster, RoutingSdk.Tenants.ClusterSet clusters, RoutingActivityCollector collector, bool switchesEnabled)
    {
        var router = cluster.Router;
        var topology = router.Topology;
        var (history, events, lag, reads, offPrimary, writes) = collector.Snapshot();
        var recent = history.TakeLast(10).ToArray();
        double PerSecond(Func<RoutingActivityCollector.Sample, long> of) => recent.Length == 0 ? 0 : Math.Round(recent.Sum(of) / (double)recent.Length, 1);

        var configured = router.ConfiguredOptions?.Overrides;
        var overrides = new List<object>();
        if (configured is not null)
        {
            overrides.AddRange(configured.Categories.Select(kv => (object)new { kind = "category", key = kv.Key.ToString(), route = kv.Value.Route?.ToString(), pool = kv.Value.Pool, source = "configuration" }));
            overrides.AddRange(configured.Scenarios.Select(kv => (object)new { kind = "scenario", key = kv.Key, route = kv.Value.Route?.ToString(), pool = kv.Value.Pool, source = "configuration" }));
        }

        overrides.AddRange(router.PrimaryCategories.Select(c => (object)new { kind = "category", key = c.ToString(), route = nameof(RouteKind.MasterOnly), pool = (string?)null, source = "runtime switch" }));
        overrides.AddRange(router.PrimaryScenarios.Select(s => (object)new { kind = "scenario", key = s, route = nameof(RouteKind.MasterOnly), pool = (string?)null, source = "runtime switch" }));

        var scenarios = (configured?.Scenarios.Keys ?? Enumerable.Empty<string>()).Concat(router.PrimaryScenarios).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var status = new
        {
            generatedAt = collector.Time.GetUtcNow(),
            cluster = cluster.Name,
            clusters = clusters.IsMulti
                ? clusters.Clusters.OrderBy(c => c.Name, StringComparer.OrdinalIgnoreCase).Select(c => new
                {
                    name = c.Name,
                    state = c.Router.ClusterState,
                    available = c.Router.Topology.Pools.Count(p => p.Health.IsAvailable),
                    pools = c.Router.Topology.Pools.Count(),
                    tenants = clusters.Map.Count(e => string.Equals(e.Value, c.Name, StringComparison.OrdinalIgnoreCase)),
                }).ToArray()
                : null,
            tenants = cluster.Tenants
                .Select(t => new { tenant = t.Tenant, open = t.Open, openWrites = t.OpenMayWrite, connections = t.Connections, rejected = t.Rejected })
                .OrderByDescending(t => t.open).ThenByDescending(t => t.connections).Take(10).ToArray(),
            clusterState = router.ClusterState,
            defaultRoute = topology.DefaultRoute.ToString(),
            pools = topology.Pools.Select(p => new
            {
                name = p.Name,
                role = p.Role.ToString(),
                endpoint = p.Endpoint,
                node = p.Health.Node,
                available = p.Health.IsAvailable,
                problem = p.Health.IsAvailable ? null : p.Health.LastProblem ?? "evicted",
                lastProblem = p.Health.LastProblem,
                lagMs = RoutingActivityCollector.Lag(p),
                lastCheck = p.Health.LastCheck,
                lagHistory = lag.GetValueOrDefault(p.Name) ?? [],
                readsPerSecond = PerSecond(s => s.ByPool.GetValueOrDefault(p.Name)),
            }),
            reads = new
            {
                total = reads,
                offPrimary,
                offPrimaryShare = reads == 0 ? (double?)null : Math.Round(100.0 * offPrimary / reads, 1),
                writes,
                perSecond = PerSecond(s => s.ByPool.Values.Sum()),
                byCategoryPerSecond = Enum.GetNames<RoutingCategory>().ToDictionary(c => c, c => PerSecond(s => s.ByCategory.GetValueOrDefault(c))),
                byCategoryAndPool = collector.ReadsByCategoryAndPool(),
            },
            history = history.Select(s => new { at = s.At, byPool = s.ByPool, byCategory = s.ByCategory }),
            events = events.Select(e => new { at = e.At, kind = e.Kind, pool = e.Pool, reason = e.Reason, count = e.Count }),
            overrides,
            switches = new
            {
                enabled = switchesEnabled,
                categories = Enum.GetValues<RoutingCategory>().Select(c => new
                {
                    key = c.ToString(),
                    toPrimary = router.PrimaryCategories.Contains(c),
                    configured = configured?.Categories.GetValueOrDefault(c)?.Route?.ToString(),
                }),
                scenarios = scenarios.Select(s => new
                {
                    key = s,
                    toPrimary = router.PrimaryScenarios.Contains(s),
                    configured = configured?.Scenarios.GetValueOrDefault(s)?.Route?.ToString(),
                }),
            },
        };
        return Redact(JsonSerializer.Serialize(status, Json), topology);
    }

    /// <summary>
    /// Belt and braces: whatever a health problem's text may quote, no pool's password leaves the process.
    /// </summary>
    internal static string Redact(string text, RoutingTopology topology)
    {
        foreach (var pool in topology.Pools)
        {
            var password = new NpgsqlConnectionStringBuilder(pool.ConnectionString).Password;
            if (!string.IsNullOrEmpty(password))
            {
                text = text.Replace(password, "***", StringComparison.Ordinal)
                    .Replace(JsonEncodedText.Encode(password).ToString(), "***", StringComparison.Ordinal);
            }
        }

        return text;
    }
}
