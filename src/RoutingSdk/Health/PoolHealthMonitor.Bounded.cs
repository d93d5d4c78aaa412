using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;
using RoutingSdk.Retry;
using RoutingSdk.Routing;

namespace RoutingSdk.Health;

/// <summary>Every check is bounded: opens and statements end within Health.CheckTimeout, and a frozen server is asked nothing.</summary>
internal sealed partial class PoolHealthMonitor
{
    /// <summary>
    /// Checks use the pool's own data source (the one EF Core and Dapper use), so what they see is what the application
    /// gets, and <c>MaxPoolSize</c> counts them too; <see cref="HealthMonitorOptions.CheckTimeout"/> bounds each check.
    /// </summary>
    private async Task<NpgsqlConnection> OpenAsync(RoutingPool pool, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        try
        {
            return await OpenWithin(pool.DataSource, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsPoolWait(ex))
        {
            // The pool may just be full (every connection busy with long reports): that says nothing about the node.
            // Ask through a one-connection side pool (same data-source configuration) before calling it unreachable.
            // Named apart in pg_stat_activity: this is the one connection per node that may exceed MaxPoolSize.
            var csb = new NpgsqlConnectionStringBuilder(pool.ConnectionString) { MaxPoolSize = 1, MinPoolSize = 0, ApplicationName = "RoutingSdk health check" };
            var side = _router.DataSources.For(pool.Name + " (health checks)", csb.ConnectionString);
            return await OpenWithin(side, options, cancellationToken).ConfigureAwait(false);
        }
    }

    // Timed out waiting (for a pool slot or for the server), or Npgsql's own "pool exhausted": not proof of a dead node.
    private static bool IsPoolWait(Exception ex) => ex is TimeoutException || ReadFailure.IsPoolExhausted(ex);

    // A frozen node accepts TCP and answers nothing: NodeWatch abandons the open at the check timeout. Not bounded by
    // the node's Lost signal: these checks are what readmits a node found lost.
    private static ValueTask<NpgsqlConnection> OpenWithin(NpgsqlDataSource dataSource, HealthMonitorOptions options, CancellationToken cancellationToken) =>
        NodeWatch.OpenAsync(dataSource, null, options.CheckTimeout, "Health.CheckTimeout", cancellationToken);

    /// <summary>Bounds a check's statements by <see cref="HealthMonitorOptions.CheckTimeout"/> without a cancel request.</summary>
    private static IDisposable Watchdog(NpgsqlConnection connection, RoutingPool pool, HealthMonitorOptions options) =>
        NodeWatch.AbortAfter(connection, options.CheckTimeout, $"{pool.DisplayName} did not answer the health check within Health.CheckTimeout ({options.CheckTimeout.TotalSeconds:0.#} s)");
}
