using System.Collections.Concurrent;
using System.Data.Common;
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
    private readonly ConcurrentDictionary<string, NpgsqlDataSource> _dataSources = new(StringComparer.Ordinal);

    private readonly Consistency.CausalReadGate _gate;

    internal RoutingDataSource(QueryRouter router, Consistency.CausalReadGate gate)
    {
        _router = router;
        _gate = gate;
    }

    /// <summary>
    /// Captures the primary's current WAL position as a token. Hand it to another request or service (cookie, header,
    /// message) that calls <see cref="RoutingScope.WaitFor(CausalToken)"/> so its reads see this write.
    /// </summary>
    public async Task<CausalToken> GetCausalTokenAsync(CancellationToken cancellationToken = default) =>
        new(await _gate.PrimaryLsnAsync(_router.WritePool, cancellationToken).ConfigureAwait(false));

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
    public new NpgsqlConnection OpenConnection()
    {
        var connection = CreateConnection();
        try
        {
            connection.Open();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Creates and opens a connection to the node the current scope allows.</summary>
    public new async ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = CreateConnection();
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Routes like <see cref="CreateConnection()"/> and returns the decision too.</summary>
    public NpgsqlConnection CreateConnection(out RouteDecision decision)
    {
        decision = Decide();
        return DataSourceFor(decision.Pool).CreateConnection();
    }

    /// <inheritdoc />
    protected override DbConnection CreateDbConnection() => CreateConnection(out _);

    /// <summary>
    /// Runs a read (Dapper, ADO.NET) on a connection routed by the current scope, and retries it like RoutingSdk's EF Core
    /// path when the replica cancels it (WAL-replay conflict) or dies: first on another replica, then on the primary,
    /// within <see cref="ReadRetryOptions"/>. The delegate may run more than once: it must only read.
    /// </summary>
    /// <exception cref="ReplicaReadCancelledException">The replica cancelled the read and it could not be retried.</exception>
    public async Task<T> ReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        var scope = RoutingScope.Current;
        var inTransaction = System.Transactions.Transaction.Current is not null;
        RoutingPool? exclude = null;
        for (var attempt = 0; ; attempt++)
        {
            var request = new RouteRequest(false, inTransaction, ExplicitRouteRequired: true, RetryAttempt: attempt);
            var decision = _router.Peek(request, scope, exclude);
            if (attempt == 0 && !_gate.MayRead(_router, decision.Pool, scope))
            {
                decision = _router.Peek(request with { AvoidAsyncReplicas = true }, scope, exclude);
            }

            _router.Record(decision, scope);
            var pool = decision.Pool;
            try
            {
                await using var connection = DataSourceFor(pool).CreateConnection();
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                return await read(connection, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && !pool.AcceptTxSession && !inTransaction)
            {
                // Not in the filter: the policy throws ReplicaReadCancelledException, which a filter would swallow.
                if (!Retry.ReadRetryPolicy.ShouldRetry(ex, pool, attempt, _router.Topology.Options.ReadRetry, _router.Logger))
                {
                    throw;
                }

                exclude = pool;
            }
        }
    }

    private RouteDecision Decide()
    {
        var scope = RoutingScope.Current;
        var request = new RouteRequest(false, System.Transactions.Transaction.Current is not null, ExplicitRouteRequired: true);
        var decision = _router.Peek(request, scope);
        if (!_gate.MayRead(_router, decision.Pool, scope))
        {
            decision = _router.Peek(request with { AvoidAsyncReplicas = true }, scope);
        }

        _router.Record(decision, scope);
        return decision;
    }

    private NpgsqlDataSource DataSourceFor(RoutingPool pool) =>
        _dataSources.GetOrAdd(pool.ConnectionString, static cs => NpgsqlDataSource.Create(cs));

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var ds in _dataSources.Values)
            {
                ds.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeAsyncCore()
    {
        foreach (var ds in _dataSources.Values)
        {
            await ds.DisposeAsync().ConfigureAwait(false);
        }

        await base.DisposeAsyncCore().ConfigureAwait(false);
    }
}
