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
    /// Checks open through the node's health-check data source (<see cref="RoutingPool.HealthCheckDataSource"/>): the
    /// pool's connection string and data-source configuration, so what they see is what the application gets, but not
    /// the application's pool — a full pool never delays a check, and a check never leaves a connection behind that the
    /// application's queries then alternate over. Its one connection stays open across rounds: no connection is opened
    /// per round. <see cref="HealthMonitorOptions.CheckTimeout"/> bounds each check.
    /// </summary>
    private static async Task<NpgsqlConnection> OpenAsync(RoutingPool pool, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        try
        {
            return await OpenWithin(pool.HealthCheckDataSource, options, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!cancellationToken.IsCancellationRequested)
        {
            // No connection of its own within the check timeout. Under a burst of new connections (an application
            // starting two hundred requests at once) a server can take longer than that to start one more backend,
            // while the application's pool already holds idle connections: ask through it before calling the node
            // unreachable. A frozen node fails there too, within a second check timeout (as the one-connection side
            // pool did when this order was the other way round).
            return await OpenWithin(pool.DataSource, options, cancellationToken).ConfigureAwait(false);
        }
    }

    // A frozen node accepts TCP and answers nothing: NodeWatch abandons the open at the check timeout. Not bounded by
    // the node's Lost signal: these checks are what readmits a node found lost.
    private static ValueTask<NpgsqlConnection> OpenWithin(NpgsqlDataSource dataSource, HealthMonitorOptions options, CancellationToken cancellationToken) =>
        NodeWatch.OpenAsync(dataSource, null, options.CheckTimeout, "Health.CheckTimeout", cancellationToken);

    /// <summary>Bounds a check's statements by <see cref="HealthMonitorOptions.CheckTimeout"/> without a cancel request.</summary>
    private static IDisposable Watchdog(NpgsqlConnection connection, RoutingPool pool, HealthMonitorOptions options) =>
        NodeWatch.AbortAfter(connection, options.CheckTimeout, $"{pool.DisplayName} did not answer the health check within Health.CheckTimeout ({options.CheckTimeout.TotalSeconds:0.#} s)");
}
