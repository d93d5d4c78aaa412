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
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Decides whether an AsyncReplica read may use <paramref name="pool"/> given what its operation wrote;
    /// captures the primary position first when the operation wrote since the last capture. When in doubt (the
    /// primary cannot say where it is, the replica cannot be asked) the answer is no: a synchronous replica serves.
    /// </summary>
    public async ValueTask<bool> MayRead(QueryRouter router, RoutingPool pool, RoutingScope? scope, bool async, CancellationToken cancellationToken)
    {
        var options = router.Topology.Options.Consistency;
        if (scope is null || pool.Role != PoolRole.AsyncReplica || !options.ReadYourWrites)
        {
            return true;
        }

        var operation = scope.ExistingOperation;
        if (operation is null)
        {
            return true; // nothing written, no token to wait for
        }

        if (operation.WroteSinceCapture)
        {
            try
            {
                operation.Captured(await PrimaryLsn(router.WritePool, async, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                return false; // the primary cannot tell: a synchronous replica has every commit anyway
            }
        }

        var required = operation.RequiredLsn;
        return required == 0 || await WaitReplayed(pool, required, options.ReadYourWritesMaxWait, async, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<ulong> PrimaryLsn(RoutingPool primary, bool async, CancellationToken cancellationToken)
    {
        var dataSource = primary.DataSource;
        await using var conn = async ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : dataSource.OpenConnection();
        await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", conn);
        var text = (string)(async ? await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) : cmd.ExecuteScalar())!;
        return CausalToken.TryParseLsn(text, out var lsn) ? lsn : throw new RoutingException($"PostgreSQL returned an LSN RoutingSdk cannot parse: '{text}'.");
    }

    private static async ValueTask<bool> WaitReplayed(RoutingPool pool, ulong lsn, TimeSpan maxWait, bool async, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)maxWait.TotalMilliseconds;
        try
        {
            var dataSource = pool.DataSource;
            await using var conn = async ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : dataSource.OpenConnection();
            await using var cmd = new NpgsqlCommand("SELECT coalesce(pg_last_wal_replay_lsn() >= @lsn::pg_lsn, false)", conn);
            cmd.Parameters.AddWithValue("lsn", CausalToken.FormatLsn(lsn));
            while (true)
            {
                if ((bool)(async ? await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) : cmd.ExecuteScalar())!)
                {
                    return true;
                }

                if (Environment.TickCount64 >= deadline)
                {
                    return false;
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
            return false; // unreachable: read elsewhere
        }
    }
}
