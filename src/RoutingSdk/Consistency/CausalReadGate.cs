using System.Globalization;
using Npgsql;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Consistency;

/// <summary>
/// Read-your-writes for asynchronous replicas: captures the primary's WAL position after an operation wrote, and
/// lets a read use an async replica only once <c>pg_last_wal_replay_lsn()</c> there has reached it (the receive
/// position runs ahead of what is visible, so replay it is). Sync and async share one implementation (Npgsql's
/// <c>bool async</c> style): the async path never blocks a thread. Connections come from each pool's own data source.
/// </summary>
internal sealed class CausalReadGate
{
    /// <summary>The gate's answer for an asynchronous-replica read.</summary>
    public enum Answer
    {
        /// <summary>The replica has replayed what the operation needs.</summary>
        Allow,

        /// <summary>Not yet (or it cannot say): a synchronous replica has every commit.</summary>
        AvoidAsyncReplicas,

        /// <summary>The position is from another timeline (a failover happened since): only the primary is sure to have it.</summary>
        Primary,
    }

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Decides whether an AsyncReplica read may use <paramref name="pool"/> given what its operation wrote;
    /// captures the primary position first when the operation wrote since the last capture. When in doubt (the
    /// primary cannot say where it is, the replica cannot be asked) the answer is no: a synchronous replica serves.
    /// </summary>
    public async ValueTask<Answer> MayRead(QueryRouter router, RoutingPool pool, RoutingScope? scope, bool async, CancellationToken cancellationToken)
    {
        var options = router.Topology.Options.Consistency;
        if (scope is null || pool.Role != PoolRole.AsyncReplica || !options.ReadYourWrites)
        {
            return Answer.Allow;
        }

        var operation = scope.ExistingOperation;
        if (operation is null)
        {
            return Answer.Allow; // nothing written, no token to wait for
        }

        if (operation.WroteSinceCapture)
        {
            if (router.WritePool is { IsPlaceholder: true })
            {
                return Answer.AvoidAsyncReplicas; // no primary to ask (an election): a synchronous replica has every commit
            }

            try
            {
                var (lsn, timeline) = await PrimaryPosition(router.WritePool, async, cancellationToken).ConfigureAwait(false);
                operation.Captured(lsn);
                operation.RequireTimeline(timeline);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                return Answer.AvoidAsyncReplicas; // the primary cannot tell: a synchronous replica has every commit anyway
            }
        }

        var required = operation.RequiredLsn;
        return required == 0
            ? Answer.Allow
            : await WaitReplayed(pool, required, operation.Timeline, options.ReadYourWritesMaxWait, async, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The primary's current WAL position and timeline (the first 8 hex digits of its WAL file name).</summary>
    public async ValueTask<(ulong Lsn, int Timeline)> PrimaryPosition(RoutingPool primary, bool async, CancellationToken cancellationToken)
    {
        var dataSource = primary.DataSource;
        await using var conn = async ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : dataSource.OpenConnection();
        await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text, substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", conn);
        await using var reader = async ? await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false) : cmd.ExecuteReader();
        _ = async ? await reader.ReadAsync(cancellationToken).ConfigureAwait(false) : reader.Read();
        var text = reader.GetString(0);
        var timeline = int.Parse(reader.GetString(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return CausalToken.TryParseLsn(text, out var lsn) ? (lsn, timeline) : throw new RoutingException($"PostgreSQL returned an LSN RoutingSdk cannot parse: '{text}'.");
    }

    private static async ValueTask<Answer> WaitReplayed(RoutingPool pool, ulong lsn, int timeline, TimeSpan maxWait, bool async, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)maxWait.TotalMilliseconds;
        try
        {
            var dataSource = pool.DataSource;
            await using var conn = async ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : dataSource.OpenConnection();

            // An LSN is a position on one timeline: after a failover the same number on the new timeline may not hold
            // the write. Unless the replica streams the timeline the position was taken on, only the primary is sure.
            if (timeline != 0)
            {
                await using var tli = new NpgsqlCommand("SELECT coalesce((SELECT received_tli FROM pg_stat_wal_receiver), 0)", conn);
                var replicaTimeline = Convert.ToInt32(async ? await tli.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) : tli.ExecuteScalar(), CultureInfo.InvariantCulture);
                if (replicaTimeline != timeline)
                {
                    return Answer.Primary;
                }
            }

            await using var cmd = new NpgsqlCommand("SELECT coalesce(pg_last_wal_replay_lsn() >= @lsn::pg_lsn, false)", conn);
            cmd.Parameters.AddWithValue("lsn", CausalToken.FormatLsn(lsn));
            while (true)
            {
                if ((bool)(async ? await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) : cmd.ExecuteScalar())!)
                {
                    return Answer.Allow;
                }

                if (Environment.TickCount64 >= deadline)
                {
                    return Answer.AvoidAsyncReplicas;
                }

                if (async)
                {
                    await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    Thread.Sleep(PollInterval);
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return Answer.AvoidAsyncReplicas; // unreachable: read elsewhere
        }
    }
}
