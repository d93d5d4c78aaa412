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

/// <summary>Start-up verification of the vendor's requirements (Health.VerifyTopologyAtStart).</summary>
internal sealed partial class PoolHealthMonitor
{
    /// <summary>Checks the vendor's requirements for synchronous read replicas; every problem with its fix.</summary>
    public async Task<List<string>> VerifyTopologyAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var options = Options;
        Dictionary<string, string> states;
        SynchronousStandbyNames? standbyNames;
        if (_router.CurrentPrimary is not { } primary)
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
}
