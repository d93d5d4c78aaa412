using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Health;

/// <summary>
/// Checks every pool in the background: reachable, role (<c>pg_is_in_recovery()</c>), replay lag in bytes and time
/// against the primary, and for synchronous replicas whether the primary lists them as sync/quorum. A failing pool
/// is evicted at once and readmitted after consecutive good checks.
/// </summary>
internal sealed partial class PoolHealthMonitor : IHostedService, IAsyncDisposable
{
    private readonly QueryRouter _router;
    private readonly PoolHealthRegistry _registry;
    private readonly IOptionsMonitor<RoutingOptions> _options;
    private readonly ILogger<PoolHealthMonitor> _logger;
    private readonly ConcurrentDictionary<string, NpgsqlDataSource> _dataSources = new(StringComparer.Ordinal);
    private CancellationTokenSource? _stopping;
    private Task? _loop;
    private int _disposed;

    public PoolHealthMonitor(QueryRouter router, PoolHealthRegistry registry, IOptionsMonitor<RoutingOptions> options, ILogger<PoolHealthMonitor> logger)
    {
        _router = router;
        _registry = registry;
        _options = options;
        _logger = logger;
        RoutingMetrics.Meter.CreateObservableGauge("routing.replica.lag", ObserveLag, unit: "ms", description: "Replay lag of each replica pool against the primary.");
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue.Health;
        if (!options.Enabled)
        {
            return;
        }

        if (options.VerifyTopologyAtStart != TopologyVerification.Off)
        {
            var problems = await VerifyTopologyAsync(cancellationToken).ConfigureAwait(false);
            if (problems.Count > 0 && options.VerifyTopologyAtStart == TopologyVerification.Fail)
            {
                throw new RoutingConfigurationException(problems);
            }

            foreach (var problem in problems)
            {
                TopologyProblem(_logger, problem);
            }
        }

        await RunOnceAsync(cancellationToken).ConfigureAwait(false);
        _registry.MonitorActive = true;
        var stopping = new CancellationTokenSource();
        _stopping = stopping;
        _loop = Task.Run(() => LoopAsync(stopping.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _registry.MonitorActive = false;
        var stopping = Interlocked.Exchange(ref _stopping, null);
        if (stopping is null || _loop is null)
        {
            return;
        }

        await stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            stopping.Dispose();
        }
    }

    private async Task LoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.CurrentValue.Health.Interval, stopping).ConfigureAwait(false);
                await RunOnceAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                MonitorFailed(_logger, ex);
            }
        }
    }

    /// <summary>One round of checks over every pool.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var topology = _router.Topology;
        var options = _options.CurrentValue.Health;
        var primary = _router.WritePool;
        var primaryFacts = await CheckPrimaryAsync(primary, options, cancellationToken).ConfigureAwait(false);
        var replicas = topology.Pools.Where(p => p.Role != PoolRole.Primary).ToArray();
        await Task.WhenAll(replicas.Select(p => CheckReplicaAsync(p, primaryFacts, options, cancellationToken))).ConfigureAwait(false);
    }

    private sealed record PrimaryFacts(ulong? Lsn, Dictionary<string, string> SyncStates);

    private async Task<PrimaryFacts> CheckPrimaryAsync(RoutingPool pool, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = await OpenAsync(pool, options, cancellationToken).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "SELECT pg_is_in_recovery(), current_setting('cluster_name'), " +
                "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END, " +
                "coalesce((SELECT string_agg(application_name || '=' || sync_state, ',') FROM pg_stat_replication), '')", conn);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var inRecovery = reader.GetBoolean(0);
            var node = reader.GetString(1);
            var lsn = reader.IsDBNull(2) ? (ulong?)null : ParseLsn(reader.GetString(2));
            var states = ParseSyncStates(reader.GetString(3));
            if (inRecovery)
            {
                pool.Health.RecordBadCheck($"pool '{pool.Name}' has Role=Primary but its node '{node}' is in recovery (a standby): writes will fail", roleMismatch: true);
                RoleMismatchLog(_logger, pool.DisplayName, "a standby", "Primary");
            }
            else
            {
                pool.Health.RecordGoodCheck(options.ReadmitAfterConsecutiveChecks, node, 0, 0);
            }

            return new PrimaryFacts(lsn, states);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            if (pool.Health.RecordBadCheck($"unreachable: {ex.Message}"))
            {
                RoutingMetrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
                Evicted(_logger, pool.DisplayName, ex.Message);
            }

            return new PrimaryFacts(null, new Dictionary<string, string>(StringComparer.Ordinal));
        }
    }

    private async Task CheckReplicaAsync(RoutingPool pool, PrimaryFacts primary, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        string? problem = null;
        var roleMismatch = false;
        try
        {
            await using var conn = await OpenAsync(pool, options, cancellationToken).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "SELECT pg_is_in_recovery(), current_setting('cluster_name'), pg_last_wal_replay_lsn()::text, " +
                "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000", conn);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var inRecovery = reader.GetBoolean(0);
            var node = reader.GetString(1);
            var replay = reader.IsDBNull(2) ? (ulong?)null : ParseLsn(reader.GetString(2));
            // No transaction replayed since the standby started: behind, by an unknown time.
            var sinceLastReplay = reader.IsDBNull(3) ? double.NaN : Convert.ToDouble(reader.GetValue(3), CultureInfo.InvariantCulture);

            if (!inRecovery)
            {
                roleMismatch = true;
                problem = $"pool '{pool.Name}' has Role={pool.Role} but its node '{node}' is not in recovery (it answers as a primary)";
            }
            else if (pool.Role == PoolRole.SyncReplica && primary.SyncStates.Count > 0
                && !(primary.SyncStates.TryGetValue(node, out var state) && state is "sync" or "quorum"))
            {
                problem = $"node '{node}' of SyncReplica pool '{pool.Name}' is not in the primary's synchronous quorum (sync_state: {(primary.SyncStates.TryGetValue(node, out var s) ? s : "not connected")}): its reads could miss committed rows";
            }
            else
            {
                long lagBytes = 0;
                double lagMs = 0;
                if (primary.Lsn is ulong primaryLsn && replay is ulong replayLsn && replayLsn < primaryLsn)
                {
                    lagBytes = (long)(primaryLsn - replayLsn);
                    lagMs = sinceLastReplay;
                }
                else if (primary.Lsn is null)
                {
                    lagMs = double.NaN; // primary unknown: lag unknown
                }

                if (pool.Health.RecordGoodCheck(options.ReadmitAfterConsecutiveChecks, node, lagMs, lagBytes))
                {
                    Readmitted(_logger, pool.DisplayName);
                }

                return;
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            problem = $"unreachable: {ex.Message}";
        }

        if (pool.Health.RecordBadCheck(problem!, roleMismatch))
        {
            RoutingMetrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
            Evicted(_logger, pool.DisplayName, problem!);
        }
    }

    /// <summary>Checks the vendor's requirements for synchronous read replicas; every problem with its fix.</summary>
    public async Task<List<string>> VerifyTopologyAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var options = _options.CurrentValue.Health;
        var primary = _router.WritePool;
        Dictionary<string, string> states;
        try
        {
            await using var conn = await OpenAsync(primary, options, cancellationToken).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "SELECT current_setting('synchronous_commit'), current_setting('synchronous_standby_names'), " +
                "coalesce((SELECT string_agg(application_name || '=' || sync_state, ',') FROM pg_stat_replication), '')", conn);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var commit = reader.GetString(0);
            var names = reader.GetString(1);
            states = ParseSyncStates(reader.GetString(2));
            if (commit != "remote_apply")
            {
                problems.Add($"Primary pool '{primary.Name}': synchronous_commit is '{commit}'; reads on synchronous replicas may miss rows the primary already committed. Set synchronous_commit = remote_apply.");
            }

            if (string.IsNullOrWhiteSpace(names))
            {
                problems.Add($"Primary pool '{primary.Name}': synchronous_standby_names is empty, so no replica is synchronous. Set it, e.g. 'ANY 2 (replica1, replica2)'.");
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException)
        {
            problems.Add($"Primary pool '{primary.Name}' ({primary.DisplayName}) is unreachable at start: {ex.Message}");
            return problems;
        }

        foreach (var pool in _router.Topology.Pools.Where(p => p.Role == PoolRole.SyncReplica))
        {
            try
            {
                await using var conn = await OpenAsync(pool, options, cancellationToken).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("SELECT current_setting('cluster_name'), current_setting('hot_standby_feedback'), pg_is_in_recovery()", conn);
                await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var node = reader.GetString(0);
                if (!reader.GetBoolean(2))
                {
                    problems.Add($"SyncReplica pool '{pool.Name}': node '{node}' is not a standby (pg_is_in_recovery() = false). Point the pool at a replica.");
                    continue;
                }

                if (!(states.TryGetValue(node, out var state) && state is "sync" or "quorum"))
                {
                    problems.Add($"SyncReplica pool '{pool.Name}': node '{node}' is not in the primary's synchronous quorum (pg_stat_replication.sync_state: {(states.TryGetValue(node, out var s) ? s : "not connected")}). Add it to synchronous_standby_names, or set Role=AsyncReplica.");
                }

                if (reader.GetString(1) != "on")
                {
                    problems.Add($"SyncReplica pool '{pool.Name}': node '{node}' has hot_standby_feedback = off; long reads will be cancelled by VACUUM replay. Set hot_standby_feedback = on.");
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException)
            {
                problems.Add($"SyncReplica pool '{pool.Name}' ({pool.DisplayName}) is unreachable at start: {ex.Message}");
            }
        }

        return problems;
    }

    private async Task<NpgsqlConnection> OpenAsync(RoutingPool pool, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        var dataSource = _dataSources.GetOrAdd(pool.ConnectionString, cs =>
        {
            var csb = new NpgsqlConnectionStringBuilder(cs)
            {
                Timeout = Math.Max(1, (int)Math.Ceiling(options.CheckTimeout.TotalSeconds)),
                CommandTimeout = Math.Max(1, (int)Math.Ceiling(options.CheckTimeout.TotalSeconds)),
                MaxPoolSize = 2,
                MinPoolSize = 0,
                ApplicationName = "RoutingSdk health monitor",
            };
            return NpgsqlDataSource.Create(csb.ConnectionString);
        });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.CheckTimeout);
        return await dataSource.OpenConnectionAsync(timeout.Token).ConfigureAwait(false);
    }

    /// <summary>"sync1=quorum,async1=async" (string_agg over pg_stat_replication) → application_name → sync_state.</summary>
    private static Dictionary<string, string> ParseSyncStates(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Split('=')).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

    private static ulong? ParseLsn(string text) => CausalToken.TryParseLsn(text, out var lsn) ? lsn : null;

    private IEnumerable<Measurement<double>> ObserveLag()
    {
        foreach (var pool in _router.Topology.Pools)
        {
            if (pool.Role != PoolRole.Primary && !double.IsNaN(pool.Health.LagMilliseconds))
            {
                yield return new Measurement<double>(pool.Health.LagMilliseconds, new KeyValuePair<string, object?>("pool", pool.Name));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Registered as itself and as IHostedService: DI may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        foreach (var ds in _dataSources.Values)
        {
            await ds.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(30, LogLevel.Warning, "Pool {Pool} evicted from routing: {Problem}")]
    private static partial void Evicted(ILogger logger, string pool, string problem);

    [LoggerMessage(31, LogLevel.Information, "Pool {Pool} readmitted after consecutive good health checks")]
    private static partial void Readmitted(ILogger logger, string pool);

    [LoggerMessage(32, LogLevel.Error, "Pool {Pool} answers as {Actual} but is configured as {Configured}")]
    private static partial void RoleMismatchLog(ILogger logger, string pool, string actual, string configured);

    [LoggerMessage(33, LogLevel.Warning, "Topology check: {Problem}")]
    private static partial void TopologyProblem(ILogger logger, string problem);

    [LoggerMessage(34, LogLevel.Error, "Health monitor round failed")]
    private static partial void MonitorFailed(ILogger logger, Exception exception);
}
