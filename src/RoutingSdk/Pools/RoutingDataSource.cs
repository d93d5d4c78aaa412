using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Npgsql;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk;

/// <summary>
/// A <see cref="DbDataSource"/> for Dapper and plain ADO.NET code whose connections follow the current
/// <see cref="RoutingScope"/>: a replica only where the scope explicitly says <see cref="RouteKind.ReadReplica"/> or
/// <see cref="RouteKind.AsyncReplica"/> (ADO.NET cannot know whether the caller will write), the primary otherwise
/// and inside a <c>TransactionScope</c>. The node is chosen when the connection is created.
/// </summary>
/// <remarks>Resolve it from DI after <c>AddQueryRouting</c>. Each pool gets its own <see cref="NpgsqlDataSource"/>.</remarks>
public sealed class RoutingDataSource : DbDataSource
{
    private readonly QueryRouter _router;

    internal RoutingDataSource(QueryRouter router) => _router = router;

    /// <summary>
    /// Captures the primary's current WAL position as a token. Hand it to another request or service (cookie, header,
    /// message) that calls <see cref="RoutingScope.WaitFor(CausalToken)"/> so its reads see this write.
    /// </summary>
    public async Task<CausalToken> GetCausalTokenAsync(CancellationToken cancellationToken = default)
    {
        var (lsn, timeline) = await _router.Gate.PrimaryPosition(await _router.PrimaryAsync(cancellationToken).ConfigureAwait(false), async: true, cancellationToken).ConfigureAwait(false);
        return new CausalToken(lsn, timeline);
    }

    /// <summary>The primary's connection string (without a password); the actual node is chosen per connection.</summary>
    public override string ConnectionString
    {
        get
        {
            var csb = new NpgsqlConnectionStringBuilder(_router.WritePool.ConnectionString) { Password = null };
            return csb.ConnectionString;
        }
    }

    /// <summary>Creates a closed connection to the node the current scope allows.</summary>
    public new NpgsqlConnection CreateConnection() => (NpgsqlConnection)CreateDbConnection();

    /// <summary>Creates and opens a connection to the node the current scope allows.</summary>
    public new NpgsqlConnection OpenConnection() => (NpgsqlConnection)OpenDbConnection();

    /// <summary>Creates and opens a connection to the node the current scope allows; never blocks a thread.</summary>
    public new async ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) =>
        (NpgsqlConnection)await OpenDbConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Routes like <see cref="CreateConnection()"/> and returns the decision too.</summary>
    public NpgsqlConnection CreateConnection(out RouteDecision decision)
    {
        decision = _router.Decide(Request(0), RoutingScope.Current);
        return decision.Pool.DataSource.CreateConnection();
    }

    /// <inheritdoc />
    protected override DbConnection CreateDbConnection() => CreateConnection(out _);

    /// <inheritdoc />
    protected override DbConnection OpenDbConnection()
    {
        var pending = OpenRouted(Request(0), RoutingScope.Current, null, async: false, CancellationToken.None);
        System.Diagnostics.Debug.Assert(pending.IsCompleted, "the synchronous path never awaits");
        return pending.GetAwaiter().GetResult().Connection;
    }

    /// <inheritdoc />
    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        (await OpenRouted(Request(0), RoutingScope.Current, null, async: true, cancellationToken).ConfigureAwait(false)).Connection;

    /// <summary>
    /// Decides and opens. A primary connection that cannot be opened (no primary during a failover: refused, the node
    /// shutting down, a demoted node) is opened again once a primary is back, within Failover.PrimaryWaitTimeout:
    /// nothing was sent on it, so nothing is repeated.
    /// </summary>
    private async ValueTask<(NpgsqlConnection Connection, RoutingPool Pool, NodeWatch Watch)> OpenRouted(
        RouteRequest request, RoutingScope? scope, RoutingPool? exclude, bool async, CancellationToken cancellationToken, StrongBox<RoutingPool?>? chosen = null)
    {
        long deadline = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var decision = async
                ? await _router.DecideAsync(request, scope, exclude, cancellationToken).ConfigureAwait(false)
                : _router.Decide(request, scope, exclude);
            var pool = decision.Pool;
            chosen?.Value = pool;
            var connection = pool.DataSource.CreateConnection();
            try
            {
                if (async)
                {
                    await NodeWatch.OpenAsync(connection, pool, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    connection.Open();
                }

                return (connection, pool, Watch(connection, pool));
            }
            catch (Exception ex)
            {
                if (async)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
                else
                {
                    connection.Dispose();
                }

                // Nothing was sent: a primary that is gone (or was found unreachable while we connected) is waited for.
                if (!pool.AcceptTxSession || cancellationToken.IsCancellationRequested
                    || (Retry.ReadFailure.Classify(ex, out _) != Retry.ReadFailureKind.ReplicaGone && !NodeWatch.IsLostNodeFailure(pool, ex)))
                {
                    throw;
                }

                deadline = deadline == 0 ? _router.PrimaryWaitDeadline() : deadline;
                await _router.WaitForPrimaryAfterFailure(pool, ex, deadline, async, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Aborts the connection if its node is found unreachable while it is open (a hung node never stalls the caller
    /// for a whole command timeout); stops watching when the connection closes.
    /// </summary>
    private static NodeWatch Watch(NpgsqlConnection connection, RoutingPool pool)
    {
        var watch = NodeWatch.Start(connection, pool);
        connection.StateChange += (_, e) =>
        {
            if (e.CurrentState is System.Data.ConnectionState.Closed or System.Data.ConnectionState.Broken)
            {
                watch.Dispose();
            }
        };
        return watch;
    }

    /// <summary>
    /// Runs a read (Dapper, ADO.NET) on a connection routed by the current scope, and retries it like RoutingSdk's EF Core
    /// path when the replica cancels it (WAL-replay conflict) or dies: first on another replica, then on the primary,
    /// within <see cref="ReadRetryOptions"/>. The delegate may run more than once: it must only read.
    /// </summary>
    /// <exception cref="ReplicaReadCancelledException">The replica cancelled the read and it could not be retried.</exception>
    /// <exception cref="WriteOnReplicaException">The delegate tried to write on a replica (SQLSTATE 25006); it was not repeated.</exception>
    public async Task<T> ReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        var scope = RoutingScope.Current;
        RoutingPool? exclude = null;
        for (var attempt = 0; ; attempt++)
        {
            var request = Request(attempt);
            var chosen = new StrongBox<RoutingPool?>();
            NodeWatch? opened = null;
            try
            {
                var (connection, _, watch) = await OpenRouted(request, scope, exclude, async: true, cancellationToken, chosen).ConfigureAwait(false);
                opened = watch;
                await using (connection.ConfigureAwait(false))
                {
                    return await read(connection, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && chosen.Value is { AcceptTxSession: false } pool && !request.InTransaction)
            {
                // Not in the filter: the policy throws ReplicaReadCancelledException, which a filter would swallow.
                // Aborted while open, or abandoned while opening, because the monitor found the node unreachable.
                var lost = opened is { Aborted: true } || NodeWatch.IsLostNodeFailure(pool, ex);
                if (!Retry.ReadRetryPolicy.ShouldRetry(ex, pool, attempt, _router.Topology.Options.ReadRetry, _router.Metrics, _router.Logger, lost))
                {
                    throw;
                }

                exclude = pool;
            }
        }
    }

    private static RouteRequest Request(int attempt) =>
        new(false, System.Transactions.Transaction.Current is not null, ExplicitRouteRequired: true, RetryAttempt: attempt);
}
