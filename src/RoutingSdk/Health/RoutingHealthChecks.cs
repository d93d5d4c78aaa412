using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RoutingSdk.Routing;

namespace RoutingSdk.Health
{
    /// <summary>One pool's health as the monitor last saw it.</summary>
    internal sealed class PoolHealthCheck(QueryRouter router, string poolName, double degradedLagMilliseconds) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var pool = router.Topology.FindPool(poolName);
            if (pool is null)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy($"Pool '{poolName}' is no longer configured."));
            }

            var health = pool.Health;
            var data = new Dictionary<string, object>
            {
                ["pool"] = pool.Name,
                ["role"] = pool.Role.ToString(),
                ["node"] = health.Node ?? "(not checked yet)",
                ["lag_ms"] = double.IsNaN(health.LagMilliseconds) ? -1 : health.LagMilliseconds,
                ["lag_bytes"] = health.LagBytes,
                ["available"] = health.IsAvailable,
            };
            if (health.LastProblem is { } problem)
            {
                data["problem"] = problem;
            }

            if (!health.IsAvailable || health.RoleMismatch)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy($"{pool.DisplayName}: {health.LastProblem ?? "evicted"}", data: data));
            }

            if (pool.Role != PoolRole.Primary && health.LagMilliseconds > degradedLagMilliseconds)
            {
                return Task.FromResult(HealthCheckResult.Degraded($"{pool.DisplayName}: replay lag {health.LagMilliseconds:F0} ms ({health.LagBytes} bytes)", data: data));
            }

            return Task.FromResult(HealthCheckResult.Healthy($"{pool.DisplayName}: ok", data));
        }
    }
}

namespace Microsoft.Extensions.DependencyInjection
{
    using RoutingSdk;
    using RoutingSdk.Health;

    /// <summary>Health checks of RoutingSdk's pools.</summary>
    public static class RoutingHealthChecksBuilderExtensions
    {
        /// <summary>
        /// Adds one health check per configured pool, named <c>routing-pool-{Name}</c> and tagged <c>routing</c> (several
        /// clusters: <c>routing-pool-{cluster}-{Name}</c>, tagged <c>routing</c> and <c>routing-cluster-{cluster}</c>):
        /// Unhealthy when evicted or answering in the wrong role, Degraded when a replica's replay lag exceeds
        /// <paramref name="degradedLagMilliseconds"/>, Healthy otherwise; data carries the lag figures.
        /// </summary>
        public static IHealthChecksBuilder AddQueryRoutingPools(this IHealthChecksBuilder builder, double degradedLagMilliseconds = 5_000)
        {
            ArgumentNullException.ThrowIfNull(builder);
            builder.Services.AddSingleton<IConfigureOptions<HealthCheckServiceOptions>>(sp => new ConfigureOptions<HealthCheckServiceOptions>(options =>
            {
                // Several clusters: every cluster's pools, named routing-pool-{cluster}-{pool} and tagged with the cluster too.
                foreach (var cluster in sp.GetRequiredService<RoutingSdk.Tenants.ClusterSet>().Clusters)
                {
                    var router = cluster.Router;
                    foreach (var pool in router.Topology.Pools)
                    {
                        var name = pool.Name;
                        var (check, tags) = cluster.Name is { } c ? ($"routing-pool-{c}-{name}", new[] { "routing", "routing-cluster-" + c }) : ($"routing-pool-{name}", ["routing"]);
                        options.Registrations.Add(new HealthCheckRegistration(
                            check, _ => new PoolHealthCheck(router, name, degradedLagMilliseconds), HealthStatus.Unhealthy, tags));
                    }
                }
            }));
            return builder;
        }
    }
}
