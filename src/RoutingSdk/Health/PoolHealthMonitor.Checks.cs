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

/// <summary>The per-node checks of one round: the primary (role, WAL position, synchronous standbys) and each replica (role, coverage, lag).</summary>
internal sealed partial class PoolHealthMonitor
{
    /// <summary>Rounds in a row without an answer before connections in use on the primary are aborted.</summary>
    internal const int PrimaryLostAfterChecks = 2;

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
            var states = ReadSyncStates(reader, 4);
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

            // A primary that answers nothing for two rounds in a row is lost: writes in flight there end now, reported as
            // PrimaryConnectionLostException (never re-run), instead of at their command timeout; new ones wait for a
            // primary within Failover.PrimaryWaitTimeout. Two rounds, not one as for a replica: aborting a write costs the
            // caller an unknown outcome, moving a read costs nothing.
            if (pool.Health.ConsecutiveBadChecks >= PrimaryLostAfterChecks && pool.Health.MarkLost($"unreachable: {ex.Message}"))
            {
                Lost(_logger, pool.DisplayName, pool.Health.LastProblem);
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

    /// <summary>As <see cref="ReadSyncStatesAsync"/>, from the two arrays the primary's one-statement check returns at <paramref name="namesOrdinal"/>.</summary>
    private static Dictionary<string, string> ReadSyncStates(NpgsqlDataReader reader, int namesOrdinal)
    {
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        if (reader.IsDBNull(namesOrdinal))
        {
            return states; // no standby connected
        }

        var names = reader.GetFieldValue<string?[]>(namesOrdinal);
        var syncStates = reader.GetFieldValue<string?[]>(namesOrdinal + 1);
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is { } name)
            {
                // Without pg_monitor the standby is listed but its state is NULL: say why, rather than "not connected".
                MergeSyncState(states, name, syncStates[i] ?? SynchronousStandbyNames.HiddenState);
            }
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
            // pg_stat_get_wal_receiver() is the function behind the pg_stat_wal_receiver view: half the CPU per check.
            await using var cmd = new NpgsqlCommand(
                Marker + "SELECT pg_is_in_recovery(), coalesce(substring((SELECT conninfo FROM pg_stat_get_wal_receiver()) FROM '(?:^| )application_name=([^ ]+)'), current_setting('cluster_name')), pg_last_wal_replay_lsn()::text, " +
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
            else if (pool.Role == PoolRole.SyncReplica && !pool.Health.IsAvailable && primary.Known && ReplicaJudgement.CatchUpProblem(pool.Name, node, replay, primary.Lsn) is { } behind)
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
                    lagMs = ReplicaJudgement.ReplicaLag(sinceLastReplay, pool.Health.CaughtUpAt, Environment.TickCount64);
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
        // Reads in flight there wait for nothing but their command timeout: abort them, they move elsewhere.
        if (lost && pool.Health.MarkLost(problem!))
        {
            Lost(_logger, pool.DisplayName, problem);
        }

        if (evicted)
        {
            _router.Metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
            Evicted(_logger, pool.DisplayName, problem!);
        }

        return roleMismatch;
    }

    private static ulong? ParseLsn(string text) => CausalToken.TryParseLsn(text, out var lsn) ? lsn : null;
}
