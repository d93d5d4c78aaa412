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
    private static readonly TimeSpan MaxPollInterval = TimeSpan.FromMilliseconds(100);

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

        // Everything the gate does — asking the primary, opening the replica, polling it — ends by this deadline.
        var deadline = Environment.TickCount64 + (long)options.ReadYourWritesMaxWait.TotalMilliseconds;
        if (operation.WroteSinceCapture)
        {
            if (router.CurrentPrimary is not { } primary)
            {
                return Answer.AvoidAsyncReplicas; // no primary to ask (an election): a synchronous replica has every commit
            }

            try
            {
                var (lsn, timeline) = await PrimaryPosition(primary, async, cancellationToken, deadline).ConfigureAwait(false);
                operation.Captured(lsn);
                operation.RequireTimeline(timeline);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                return Answer.AvoidAsyncReplicas; // the primary cannot tell in time: a synchronous replica has every commit anyway
            }
        }

        var required = operation.RequiredLsn;
        return required == 0
            ? Answer.Allow
            : await WaitReplayed(pool, required, operation.Timeline, deadline, async, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a connection, giving up at <paramref name="deadline"/> (Environment.TickCount64). The async path does not
    /// wait for Npgsql's start-up exchange past it (a frozen node never answers it); an abandoned open ends, and its
    /// connection is disposed, in the background. The sync path is bounded by the connection string's Timeout.
    /// </summary>
    private static async ValueTask<NpgsqlConnection> OpenWithin(RoutingPool pool, long deadline, bool async, CancellationToken cancellationToken)
    {
        if (!async)
        {
            NodeWatch.ThrowIfLost(pool);
            return pool.DataSource.OpenConnection(); // bounded by the connection string's Timeout
        }

        // A new physical connection takes a few ms: the grace lets one start even at the deadline.
        var remaining = TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)) + WatchdogGrace;
        return await NodeWatch.OpenAsync(pool.DataSource, pool, remaining, "Consistency.ReadYourWritesMaxWait", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Bounds the statements on <paramref name="connection"/> by <paramref name="deadline"/> (no cancel request to a frozen server).</summary>
    /// <remarks>
    /// A short grace past the deadline: a statement that is merely a few milliseconds slow is let finish (breaking a
    /// healthy connection costs a reconnect); one on a node that stopped answering is broken.
    /// </remarks>
    private static IDisposable Watchdog(NpgsqlConnection connection, long deadline) =>
        NodeWatch.AbortAfter(connection, TimeSpan.FromMilliseconds(Math.Max(1, deadline - Environment.TickCount64) + WatchdogGrace.TotalMilliseconds),
            "RoutingSdk: read-your-writes check exceeded Consistency.ReadYourWritesMaxWait");

    private static readonly TimeSpan WatchdogGrace = TimeSpan.FromMilliseconds(250);

    /// <summary>The primary's current WAL position and timeline (the first 8 hex digits of its WAL file name).</summary>
    public async ValueTask<(ulong Lsn, int Timeline)> PrimaryPosition(RoutingPool primary, bool async, CancellationToken cancellationToken, long deadline = 0)
    {
        var dataSource = primary.DataSource;
        await using var conn = deadline != 0 ? await OpenWithin(primary, deadline, async, cancellationToken).ConfigureAwait(false)
            : async ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : dataSource.OpenConnection();
        using var watchdog = deadline != 0 ? Watchdog(conn, deadline) : null;
        await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text, substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", conn);
        if (deadline != 0)
        {
            cmd.CommandTimeout = 0; // bounded by the watchdog
        }

        await using var reader = async ? await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false) : cmd.ExecuteReader();
        _ = async ? await reader.ReadAsync(cancellationToken).ConfigureAwait(false) : reader.Read();
        var text = reader.GetString(0);
        var timeline = int.Parse(reader.GetString(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return CausalToken.TryParseLsn(text, out var lsn) ? (lsn, timeline) : throw new RoutingException($"PostgreSQL returned an LSN RoutingSdk cannot parse: '{text}'.");
    }

    private static async ValueTask<Answer> WaitReplayed(RoutingPool pool, ulong lsn, int timeline, long deadline, bool async, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = await OpenWithin(pool, deadline, async, cancellationToken).ConfigureAwait(false);
            using var watchdog = Watchdog(conn, deadline);

            // An LSN is a position on one timeline: after a failover the same number on the new timeline may not hold
            // the write. Unless the replica streams the timeline the position was taken on, only the primary is sure.
            if (timeline != 0)
            {
                await using var tli = new NpgsqlCommand("SELECT coalesce((SELECT received_tli FROM pg_stat_wal_receiver), 0)", conn) { CommandTimeout = 0 };
                var replicaTimeline = Convert.ToInt32(async ? await tli.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) : tli.ExecuteScalar(), CultureInfo.InvariantCulture);
                if (replicaTimeline != timeline)
                {
                    return Answer.Primary;
                }
            }

            await using var cmd = new NpgsqlCommand("SELECT coalesce(pg_last_wal_replay_lsn() >= @lsn::pg_lsn, false)", conn) { CommandTimeout = 0 };
            var pause = PollInterval;
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

                // Back off (10, 20, 40 … 100 ms), never past the deadline.
                var wait = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds, Math.Max(1, deadline - Environment.TickCount64)));
                pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, MaxPollInterval.TotalMilliseconds));
                if (async)
                {
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    Thread.Sleep(wait);
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return Answer.AvoidAsyncReplicas; // unreachable: read elsewhere
        }
    }
}
