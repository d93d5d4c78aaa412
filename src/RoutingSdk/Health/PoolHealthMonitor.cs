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

/// <summary>
/// Checks every pool in the background: reachable, role (<c>pg_is_in_recovery()</c>), replay lag in bytes and time
/// against the primary, and for synchronous replicas whether the primary lists them as sync/quorum. A failing pool
/// is evicted at once and readmitted after consecutive good checks.
/// </summary>
internal sealed partial class PoolHealthMonitor : IHostedService, IAsyncDisposable, IDisposable
{
    private int _started;
    private readonly QueryRouter _router;
    private readonly PoolHealthRegistry _registry;
    private readonly ILogger<PoolHealthMonitor> _logger;
    private CancellationTokenSource? _stopping;
    private Task? _loop;
    private int _disposed;

    public PoolHealthMonitor(QueryRouter router, PoolHealthRegistry registry, ILogger<PoolHealthMonitor> logger)
    {
        _router = router;
        _registry = registry;
        _logger = logger;
        router.Metrics.Meter.CreateObservableGauge("routing.replica.lag", ObserveLag, unit: "ms", description: "Replay lag of each replica pool against the primary.");
    }

    /// <summary>
    /// The health settings in force: those of the last valid configuration (the router's snapshot), never a reload
    /// that failed validation (an Interval of 0 would hammer every node, a negative one would stop the loop).
    /// </summary>
    internal HealthMonitorOptions Options => _router.Topology.Options.Health;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = Options;
        if (!options.Enabled || Interlocked.Exchange(ref _started, 1) != 0)
        {
            return; // disabled, or already started (by the host or on first use)
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
        using (ExecutionContext.SuppressFlow()) // no caller's TransactionScope or RoutingScope in the checks
        {
            _loop = Task.Run(() => LoopAsync(stopping.Token), CancellationToken.None);
        }
    }

    /// <summary>Started by the first routing decision when no host does it; a failure is logged, never thrown at a query.</summary>
    public async Task StartOnFirstUseAsync()
    {
        try
        {
            await StartAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            MonitorFailed(_logger, ex);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

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
                await Task.Delay(Options.Interval, stopping).ConfigureAwait(false);
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
        var options = topology.Options.Health;
        // Every Primary-role pool is checked, so that a recovered one is readmitted and a second one is known; the
        // facts of the first one that answers as a primary judge the replicas.
        // A Role=Primary pool that only serves reads (AcceptTxSession=false) is checked as a primary too.
        var primaries = topology.WritePools.Concat(topology.Pools.Where(p => p.Role == PoolRole.Primary && !p.AcceptTxSession)).Where(p => !p.IsPlaceholder);
        var primaryChecks = await Task.WhenAll(primaries.Select(p => CheckPrimaryAsync(p, options, cancellationToken))).ConfigureAwait(false);
        var primaryFacts = primaryChecks.FirstOrDefault(f => f.Known) ?? new PrimaryFacts(false, null, new Dictionary<string, string>(StringComparer.Ordinal), null, "");
        var replicas = topology.Pools.Where(p => p.Role != PoolRole.Primary).ToArray();
        var answersAsPrimary = await Task.WhenAll(replicas.Select(p => CheckReplicaAsync(p, primaryFacts, options, cancellationToken))).ConfigureAwait(false);

        // A failover behind RoutingSdk's back (configured pools, no discovery): no configured primary answers as one,
        // and exactly one replica pool does. That is a topology change to follow, not only an eviction.
        var promoted = replicas.Where((_, i) => answersAsPrimary[i]).ToArray();
        if (!topology.Discovered && !primaryChecks.Any(f => f.Known) && promoted.Length == 1)
        {
            _router.FollowPromotion(promoted[0]);
        }
    }

    /// <summary>
    /// What the primary said; <see cref="Known"/> is false when it could not be asked (then nothing is judged by it).
    /// <see cref="AskedAt"/> is Environment.TickCount64 just before the primary was asked for its WAL position.
    /// </summary>
    private sealed record PrimaryFacts(bool Known, ulong? Lsn, Dictionary<string, string> SyncStates, SynchronousStandbyNames? StandbyNames, string StandbyNamesSetting, long AskedAt = 0);

    /// <summary>
    /// Leads every statement the monitor sends, so that its checks can be told apart from the application's traffic
    /// in <c>pg_stat_statements</c> and <c>pg_stat_activity</c> (and left out of a count of the application's statements).
    /// </summary>
    internal const string Marker = "/* RoutingSdk:health */ ";

    private const string PrimarySql =
        Marker + "SELECT pg_is_in_recovery(), current_setting('cluster_name'), " +
        "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END, current_setting('synchronous_standby_names'); " +
        Marker + "SELECT application_name, sync_state FROM pg_stat_replication";

    private async Task<PrimaryFacts> CheckPrimaryAsync(RoutingPool pool, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = await OpenAsync(pool, options, cancellationToken).ConfigureAwait(false);
            using var watchdog = Watchdog(conn, pool, options);
            await using var cmd = new NpgsqlCommand(PrimarySql, conn);
            cmd.CommandTimeout = 0; // bounded by the watchdog, which asks a frozen server nothing
            var askedAt = Environment.TickCount64;
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var inRecovery = reader.GetBoolean(0);
            var node = reader.GetString(1);
            var lsn = reader.IsDBNull(2) ? (ulong?)null : ParseLsn(reader.GetString(2));
            var standbyNamesSetting = reader.GetString(3);
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            var states = await ReadSyncStatesAsync(reader, cancellationToken).ConfigureAwait(false);
            if (inRecovery)
            {
                pool.Health.RecordBadCheck($"pool '{pool.Name}' has Role=Primary but its node '{node}' is in recovery (a standby): writes will fail", roleMismatch: true);
                RoleMismatchLog(_logger, pool.DisplayName, "a standby", "Primary");
                return new PrimaryFacts(false, null, states, null, "");
            }

            pool.Health.RecordGoodCheck(options.ReadmitAfterConsecutiveChecks, node, 0, 0);
            return new PrimaryFacts(true, lsn, states, SynchronousStandbyNames.Parse(standbyNamesSetting), standbyNamesSetting, askedAt);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            if (pool.Health.RecordBadCheck($"unreachable: {ex.Message}"))
            {
                _router.Metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
                Evicted(_logger, pool.DisplayName, ex.Message);
            }

            return new PrimaryFacts(false, null, new Dictionary<string, string>(StringComparer.Ordinal), null, "");
        }
    }

    /// <summary>
    /// pg_stat_replication as application_name → sync_state. A name can appear twice (a lingering walsender, standbys
    /// without cluster_name all called 'walreceiver'): the strongest state wins rather than failing the round.
    /// </summary>
    private static async Task<Dictionary<string, string>> ReadSyncStatesAsync(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (reader.IsDBNull(0))
            {
                continue;
            }

            // Without pg_monitor the standby is listed but its state is NULL: say why, rather than "not connected".
            MergeSyncState(states, reader.GetString(0), reader.IsDBNull(1) ? SynchronousStandbyNames.HiddenState : reader.GetString(1));
        }

        return states;
    }

    internal static void MergeSyncState(Dictionary<string, string> states, string applicationName, string syncState)
    {
        if (!states.TryGetValue(applicationName, out var existing) || Rank(syncState) > Rank(existing))
        {
            states[applicationName] = syncState;
        }

        static int Rank(string state) => state switch { "sync" => 3, "quorum" => 2, "potential" => 1, _ => 0 };
    }

    // A standby is listed in the primary's pg_stat_replication under the application_name of its primary_conninfo,
    // which defaults to its cluster_name (PostgreSQL 12+). Patroni sets application_name to the member name and
    // cluster_name to the scope, so the conninfo is read first.
    // https://www.postgresql.org/docs/current/runtime-config-replication.html#GUC-PRIMARY-CONNINFO

    /// <summary>Null when the node is covered; otherwise why its reads could miss committed rows.</summary>
    private static string? SyncCoverageProblem(RoutingPool pool, string node, PrimaryFacts primary)
    {
        if (node.Length == 0)
        {
            return $"SyncReplica pool '{pool.Name}' answers with an empty cluster_name, so RoutingSdk cannot find it in the primary's pg_stat_replication: set cluster_name (and the application_name of primary_conninfo) to the node's name";
        }

        if (primary.StandbyNames is null)
        {
            return $"the primary's synchronous_standby_names is empty, so no commit waits for node '{node}' of SyncReplica pool '{pool.Name}': its reads could miss committed rows";
        }

        if (!primary.StandbyNames.Covers(node, primary.SyncStates, out var why))
        {
            return $"node '{node}' of SyncReplica pool '{pool.Name}' is not covered by the primary's synchronous_standby_names '{primary.StandbyNamesSetting}' ({why}): its reads could miss committed rows";
        }

        return null;
    }

    /// <summary>
    /// Readmitting a SyncReplica needs more than "commits wait for it now": a standby that only just became synchronous
    /// (<c>FIRST 1 (a, b)</c> after a left, or any evicted one coming back) may not yet have applied commits that were
    /// acknowledged by the others before. It is readmitted only by a check that saw it covered and caught up with the
    /// primary's WAL position taken at that same check; until then its reads could miss a commit a caller was told about.
    /// </summary>
    internal static string? CatchUpProblem(string poolName, string node, ulong? replay, ulong? primaryLsn) =>
        primaryLsn is not ulong lsn ? null
        : replay is ulong applied && applied >= lsn ? null
        : $"node '{node}' of SyncReplica pool '{poolName}' is covered by synchronous_standby_names but has not yet applied every commit acknowledged before "
          + $"(replayed {FormatLsn(replay)}, primary at {FormatLsn(lsn)}): readmitted once it has";

    private static string FormatLsn(ulong? lsn) => lsn is ulong v ? $"{v >> 32:X}/{v & 0xFFFFFFFF:X}" : "nothing";

    /// <summary>
    /// A behind replica's lag. The time since its last replayed transaction overstates it after an idle stretch (an
    /// hour-old transaction, then one new write, would read as an hour of lag); when an earlier check saw the replica
    /// caught up with the primary, nothing it misses is older than that check, so the lag is at most the time since.
    /// </summary>
    internal static double ReplicaLag(double sinceLastReplayMs, long? caughtUpAt, long now)
    {
        var bound = caughtUpAt is { } at ? (double)Math.Max(0, now - at) : double.PositiveInfinity;
        return double.IsNaN(sinceLastReplayMs) ? (double.IsInfinity(bound) ? double.NaN : bound) : Math.Min(sinceLastReplayMs, bound);
    }

    /// <summary>Checks a replica pool; true when its node answers as a primary (not in recovery).</summary>
    private async Task<bool> CheckReplicaAsync(RoutingPool pool, PrimaryFacts primary, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        string? problem = null;
        var roleMismatch = false;
        var lost = false;
        try
        {
            await using var conn = await OpenAsync(pool, options, cancellationToken).ConfigureAwait(false);
            using var watchdog = Watchdog(conn, pool, options);
            await using var cmd = new NpgsqlCommand(
                Marker + "SELECT pg_is_in_recovery(), coalesce(substring((SELECT conninfo FROM pg_stat_wal_receiver) FROM '(?:^| )application_name=([^ ]+)'), current_setting('cluster_name')), pg_last_wal_replay_lsn()::text, " +
                "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000", conn);
            cmd.CommandTimeout = 0; // bounded by the watchdog, which asks a frozen server nothing
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
            else if (pool.Role == PoolRole.SyncReplica && primary.Known && SyncCoverageProblem(pool, node, primary) is { } coverage)
            {
                problem = coverage;
            }
            else if (pool.Role == PoolRole.SyncReplica && !pool.Health.IsAvailable && primary.Known && CatchUpProblem(pool.Name, node, replay, primary.Lsn) is { } behind)
            {
                problem = behind;
            }
            else
            {
                long lagBytes = 0;
                double lagMs = 0;
                if (primary.Lsn is ulong primaryLsn && replay is ulong replayLsn && replayLsn < primaryLsn)
                {
                    lagBytes = (long)(primaryLsn - replayLsn);
                    lagMs = ReplicaLag(sinceLastReplay, pool.Health.CaughtUpAt, Environment.TickCount64);
                }
                else if (primary.Lsn is not null && replay is not null)
                {
                    pool.Health.CaughtUpAt = primary.AskedAt; // everything committed before this moment is replayed there
                }
                else if (primary.Lsn is null)
                {
                    lagMs = double.NaN; // primary unknown: lag unknown
                }

                if (pool.Health.RecordGoodCheck(options.ReadmitAfterConsecutiveChecks, node, lagMs, lagBytes))
                {
                    Readmitted(_logger, pool.DisplayName);
                }

                return false;
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            problem = $"unreachable: {ex.Message}";
            lost = true;
        }

        var evicted = pool.Health.RecordBadCheck(problem!, roleMismatch);
        if (lost)
        {
            // Reads in flight there wait for nothing but their command timeout: abort them, they move elsewhere.
            pool.Health.MarkLost();
        }

        if (evicted)
        {
            _router.Metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
            Evicted(_logger, pool.DisplayName, problem!);
        }

        return roleMismatch;
    }

    /// <summary>Checks the vendor's requirements for synchronous read replicas; every problem with its fix.</summary>
    public async Task<List<string>> VerifyTopologyAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var options = Options;
        var primary = _router.WritePool;
        Dictionary<string, string> states;
        SynchronousStandbyNames? standbyNames;
        if (primary.IsPlaceholder)
        {
            problems.Add($"No primary is known at start ({_router.ClusterState}); writes wait up to Failover.PrimaryWaitTimeout for one.");
            return problems;
        }

        try
        {
            await using var conn = await OpenAsync(primary, options, cancellationToken).ConfigureAwait(false);
            using var watchdog = Watchdog(conn, primary, options);
            await using var cmd = new NpgsqlCommand(
                Marker + "SELECT current_setting('synchronous_commit'), current_setting('synchronous_standby_names'); " +
                Marker + "SELECT application_name, sync_state FROM pg_stat_replication", conn);
            cmd.CommandTimeout = 0; // bounded by the watchdog
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var commit = reader.GetString(0);
            var names = reader.GetString(1);
            standbyNames = SynchronousStandbyNames.Parse(names);
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            states = await ReadSyncStatesAsync(reader, cancellationToken).ConfigureAwait(false);
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
                using var watchdog = Watchdog(conn, pool, options);
                await using var cmd = new NpgsqlCommand(Marker + "SELECT coalesce(substring((SELECT conninfo FROM pg_stat_wal_receiver) FROM '(?:^| )application_name=([^ ]+)'), current_setting('cluster_name')), current_setting('hot_standby_feedback'), pg_is_in_recovery()", conn);
                cmd.CommandTimeout = 0; // bounded by the watchdog
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
                else if (standbyNames is not null && !standbyNames.Covers(node, states, out var why))
                {
                    problems.Add($"SyncReplica pool '{pool.Name}': node '{node}' may miss committed rows: synchronous_standby_names is '{standbyNames}' ({why}). " +
                        "List only the replicas that serve reads and make every commit wait for all of them (e.g. 'ANY 2 (sync1, sync2)', or 'ANY 1 (sync1)' while sync2 is out), or set Role=AsyncReplica.");
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

    private static async Task<NpgsqlConnection> OpenWithin(NpgsqlDataSource dataSource, HealthMonitorOptions options, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.CheckTimeout);
        var open = dataSource.OpenConnectionAsync(timeout.Token).AsTask();
        try
        {
            // Npgsql does not observe cancellation during the start-up exchange, which a frozen node never answers:
            // stop waiting at the check timeout, and let the open end (and its connection be disposed) in the background.
            if (await Task.WhenAny(open, Task.Delay(options.CheckTimeout, cancellationToken)).ConfigureAwait(false) != open)
            {
                cancellationToken.ThrowIfCancellationRequested();
                _ = open.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
                _ = open.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                throw new OperationCanceledException();
            }

            return await open.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no connection within Health.CheckTimeout ({options.CheckTimeout.TotalSeconds:0.#} s)");
        }
    }

    /// <summary>Bounds a check's statements by <see cref="HealthMonitorOptions.CheckTimeout"/> without a cancel request.</summary>
    private static IDisposable Watchdog(NpgsqlConnection connection, RoutingPool pool, HealthMonitorOptions options) =>
        NodeWatch.AbortAfter(connection, options.CheckTimeout, $"{pool.DisplayName} did not answer the health check within Health.CheckTimeout ({options.CheckTimeout.TotalSeconds:0.#} s)");

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
