using System.Collections.Concurrent;
using Npgsql;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Consistency;

/// <summary>
/// Read-your-writes for asynchronous replicas: captures the primary's WAL position after an operation wrote, and
/// lets a read use an async replica only once <c>pg_last_wal_replay_lsn()</c> there has reached it (the receive
/// position runs ahead of what is visible, so replay it is).
/// </summary>
internal sealed class CausalReadGate : IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);
    private readonly ConcurrentDictionary<string, NpgsqlDataSource> _dataSources = new(StringComparer.Ordinal);

    /// <summary>
    /// Decides whether an AsyncReplica read may use <paramref name="pool"/> given what its operation wrote;
    /// captures the primary position first when the operation wrote since the last capture.
    /// </summary>
    public bool MayRead(QueryRouter router, RoutingPool pool, RoutingScope? scope)
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
            operation.Captured(PrimaryLsn(router.WritePool));
        }

        var required = operation.RequiredLsn;
        return required == 0 || WaitReplayed(pool, required, options.ReadYourWritesMaxWait);
    }

    public async ValueTask<bool> MayReadAsync(QueryRouter router, RoutingPool pool, RoutingScope? scope, CancellationToken cancellationToken)
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
            operation.Captured(await PrimaryLsnAsync(router.WritePool, cancellationToken).ConfigureAwait(false));
        }

        var required = operation.RequiredLsn;
        return required == 0 || await WaitReplayedAsync(pool, required, options.ReadYourWritesMaxWait, cancellationToken).ConfigureAwait(false);
    }

    public ulong PrimaryLsn(RoutingPool primary)
    {
        using var conn = DataSource(primary).OpenConnection();
        using var cmd = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", conn);
        return Parse((string)cmd.ExecuteScalar()!);
    }

    public async Task<ulong> PrimaryLsnAsync(RoutingPool primary, CancellationToken cancellationToken)
    {
        await using var conn = await DataSource(primary).OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", conn);
        return Parse((string)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!);
    }

    private bool WaitReplayed(RoutingPool pool, ulong lsn, TimeSpan maxWait)
    {
        var deadline = Environment.TickCount64 + (long)maxWait.TotalMilliseconds;
        try
        {
            using var conn = DataSource(pool).OpenConnection();
            using var cmd = new NpgsqlCommand("SELECT coalesce(pg_last_wal_replay_lsn() >= @lsn::pg_lsn, false)", conn);
            cmd.Parameters.AddWithValue("lsn", CausalToken.FormatLsn(lsn));
            while (true)
            {
                if ((bool)cmd.ExecuteScalar()!)
                {
                    return true;
                }

                if (Environment.TickCount64 >= deadline)
                {
                    return false;
                }

                Thread.Sleep(PollInterval);
            }
        }
        catch (NpgsqlException)
        {
            return false; // unreachable: read elsewhere
        }
    }

    private async Task<bool> WaitReplayedAsync(RoutingPool pool, ulong lsn, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)maxWait.TotalMilliseconds;
        try
        {
            await using var conn = await DataSource(pool).OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT coalesce(pg_last_wal_replay_lsn() >= @lsn::pg_lsn, false)", conn);
            cmd.Parameters.AddWithValue("lsn", CausalToken.FormatLsn(lsn));
            while (true)
            {
                if ((bool)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
                {
                    return true;
                }

                if (Environment.TickCount64 >= deadline)
                {
                    return false;
                }

                await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    private NpgsqlDataSource DataSource(RoutingPool pool) =>
        _dataSources.GetOrAdd(pool.ConnectionString, static cs =>
            NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(cs) { ApplicationName = "RoutingSdk read-your-writes", MaxPoolSize = 20 }.ConnectionString));

    private static ulong Parse(string text) =>
        CausalToken.TryParseLsn(text, out var lsn) ? lsn : throw new RoutingException($"PostgreSQL returned an LSN RoutingSdk cannot parse: '{text}'.");

    public void Dispose()
    {
        foreach (var ds in _dataSources.Values)
        {
            ds.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var ds in _dataSources.Values)
        {
            await ds.DisposeAsync().ConfigureAwait(false);
        }
    }
}
