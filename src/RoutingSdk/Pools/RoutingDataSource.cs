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
    private readonly Tenants.ClusterSet _clusters;

    internal RoutingDataSource(Tenants.ClusterSet clusters) => _clusters = clusters;

    internal RoutingDataSource(QueryRouter router)
        : this(new Tenants.ClusterSet(router))
    {
    }

    /// <summary>
    /// Captures the primary's current WAL position as a token. Hand it to another request or service (cookie, header,
    /// message) that calls <see cref="RoutingScope.WaitFor(CausalToken)"/> so its reads see this write.
    /// </summary>
    public async Task<CausalToken> GetCausalTokenAsync(CancellationToken cancellationToken = default)
    {
        var cluster = _clusters.ClusterFor(RoutingScope.Current); // the operation's cluster (several configured), else the tenant's
        var router = cluster.Router;
        var (lsn, timeline) = await router.Gate.PrimaryPosition(await router.PrimaryAsync(cancellationToken).ConfigureAwait(false), async: true, cancellationToken).ConfigureAwait(false);
        return new CausalToken(lsn, timeline, cluster.Name);
    }

    /// <summary>The primary's connection string (without a password); the actual node is chosen per connection.</summary>
    public override string ConnectionString
    {
        get
        {
            var csb = new NpgsqlConnectionStringBuilder(_clusters.ForSettings().Router.ClusterConnectionString) { Password = null };
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
    /// <remarks>
    /// Several clusters configured: once the caller opens it, it counts as one of the tenant's open connections (a
    /// freeze's drain waits for it) until it closes; its open is not held back by
    /// <see cref="TenantOptions.MaxConnectionsPerTenant"/>, and a connection that may write (see
    /// <see cref="OpenConnectionAsync"/>) is refused at its open, with nothing sent, if its tenant is frozen
    /// (<see cref="TenantFrozenException"/>) or was moved to another cluster since it was created
    /// (<see cref="CrossClusterOperationException"/>): an open cannot wait. <see cref="OpenConnectionAsync"/> waits.
    /// </remarks>
    public NpgsqlConnection CreateConnection(out RouteDecision decision)
    {
        var scope = RoutingScope.Current;
        var mayWrite = MayWrite(scope);
        var cluster = _clusters.ClusterFor(scope);
        decision = cluster.Router.Decide(Request(0), scope);
        var connection = decision.Pool.DataSource.CreateConnection();
        if (_clusters.IsMulti && TenantScope.CurrentTenant is not null)
        {
            // Counted, and checked against a freeze or a move, when the caller opens it (in the caller's flow, so its
            // tenant scope is the one it was created in): a refusal surfaces from Open() with nothing sent.
            Tenants.TenantLease? lease = null;
            connection.StateChange += (_, e) =>
            {
                if (e.CurrentState == System.Data.ConnectionState.Open && e.OriginalState != System.Data.ConnectionState.Open)
                {
                    Interlocked.Exchange(ref lease, _clusters.CountOpened(cluster, mayWrite))?.Release();
                }
                else if (e.OriginalState == System.Data.ConnectionState.Open)
                {
                    Interlocked.Exchange(ref lease, null)?.Release();
                }
            };
        }

        return connection;
    }

    /// <inheritdoc />
    protected override DbConnection CreateDbConnection() => CreateConnection(out _);

    /// <inheritdoc />
    protected override DbConnection OpenDbConnection()
    {
        var pending = OpenRouted(RoutingScope.Current, null, async: false, CancellationToken.None);
        System.Diagnostics.Debug.Assert(pending.IsCompleted, "the synchronous path never awaits");
        return pending.GetAwaiter().GetResult().Connection;
    }

    /// <inheritdoc />
    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        (await OpenRouted(RoutingScope.Current, null, async: true, cancellationToken).ConfigureAwait(false)).Connection;

    /// <summary>
    /// Whether a connection of this scope may write: ADO.NET cannot tell reads from writes, so anything but an explicit
    /// replica route outside a transaction may (a frozen tenant's such connections wait for the freeze to end).
    /// </summary>
    private static bool MayWrite(RoutingScope? scope) =>
        System.Transactions.Transaction.Current is not null || (scope?.Route ?? RouteKind.Default) is RouteKind.Default or RouteKind.MasterOnly;

    /// <summary>
    /// Decides and opens. Nothing is sent before the open completes, so a failed open is judged by the
    /// <see cref="Retry.AttemptEngine"/> as an attempt that did nothing: a replica that is gone is replaced by another
    /// node, a primary that is gone (a failover: refused, shutting down, demoted, found unreachable) is opened again
    /// once a primary is back, within Failover.PrimaryWaitTimeout.
    /// </summary>
    private async ValueTask<(NpgsqlConnection Connection, RouteDecision Decision, NodeWatch Watch, Retry.AttemptEngine Engine)> OpenRouted(
        RoutingScope? scope, Retry.AttemptEngine? engine, bool async, CancellationToken cancellationToken, bool read = false)
    {
        // The tenant's cluster (several clusters configured), and a connection slot of the tenant there. ReadAsync's
        // delegate only reads (its contract), so a frozen tenant's reads continue there unless [MasterOnly] or a
        // transaction says they may write.
        var mayWrite = read
            ? System.Transactions.Transaction.Current is not null || scope?.Route == RouteKind.MasterOnly
            : MayWrite(scope);
        var (cluster, lease) = async
            ? await _clusters.ResolveAsync(scope, mayWrite, async: true, cancellationToken).ConfigureAwait(false)
            : _clusters.Resolve(scope, mayWrite);
        var router = cluster.Router;
        engine ??= new Retry.AttemptEngine(router, router.Logger);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var request = Request(engine.ReadRetries);
                var decision = async
                    ? await router.DecideAsync(request, scope, engine.Exclude, cancellationToken).ConfigureAwait(false)
                    : router.Decide(request, scope, engine.Exclude);
                var pool = decision.Pool;
                var connection = pool.DataSource.CreateConnection();
                try
                {
                    if (async)
                    {
                        await NodeWatch.OpenAsync(connection, pool, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        NodeWatch.ThrowIfLost(pool);
                        connection.Open(); // bounded by the connection string's Timeout
                    }

                    return (connection, decision, Watch(connection, pool, lease), engine);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    await NodeWatch.DisposeUnlessOpeningAsync(connection).ConfigureAwait(false);

                    var failed = new Retry.FailedAttempt { Pool = pool, Error = ex, NothingSent = true, InTransaction = request.InTransaction };
                    if (!await engine.RunAgainAsync(failed, async, cancellationToken).ConfigureAwait(false))
                    {
                        throw;
                    }
                }
            }
        }
        catch
        {
            lease?.Release(); // nothing opened: the tenant's slot goes back
            throw;
        }
    }

    /// <summary>
    /// Aborts the connection if its node is found unreachable while it is open (a hung node never stalls the caller
    /// for a whole command timeout); stops watching when the connection closes.
    /// </summary>
    private static NodeWatch Watch(NpgsqlConnection connection, RoutingPool pool, Tenants.TenantLease? lease)
    {
        var watch = NodeWatch.Start(connection, pool);
        connection.StateChange += (_, e) =>
        {
            if (e.CurrentState is System.Data.ConnectionState.Closed or System.Data.ConnectionState.Broken)
            {
                watch.Dispose();
                lease?.Release();
            }
        };
        return watch;
    }

    /// <summary>
    /// Runs a read (Dapper, ADO.NET) on a connection routed by the current scope, and retries it like RoutingSdk's EF Core
    /// path when the replica cancels it (WAL-replay conflict) or dies: first on another replica, then on the primary,
    /// within <see cref="ReadRetryOptions"/>; a read the primary served is run again once a primary is back. The
    /// delegate may run more than once: it must only read. Under <see cref="RouteKind.MasterOnly"/> it is never run
    /// again once it reached the primary (it may have written): a lost connection there is reported as
    /// <see cref="PrimaryConnectionLostException"/>.
    /// </summary>
    /// <exception cref="ReplicaReadCancelledException">The replica cancelled the read and it could not be retried.</exception>
    /// <exception cref="WriteOnReplicaException">The delegate tried to write on a replica (SQLSTATE 25006); it was not repeated.</exception>
    public async Task<T> ReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        var scope = RoutingScope.Current;
        Retry.AttemptEngine? engine = null;
        while (true)
        {
            (var connection, var decision, var watch, engine) = await OpenRouted(scope, engine, async: true, cancellationToken, read: true).ConfigureAwait(false);
            try
            {
                await using (connection.ConfigureAwait(false))
                {
                    return await read(connection, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Judged in the body, not the filter: the engine throws RoutingSdk's exceptions, which a filter would swallow.
                var failed = new Retry.FailedAttempt
                {
                    Pool = decision.Pool,
                    Error = ex,
                    Aborted = watch.Aborted,
                    Wrote = decision.MayHaveEffect,
                    EffectInFlight = decision.MayHaveEffect,
                    InTransaction = System.Transactions.Transaction.Current is not null,
                };
                if (!await engine.RunAgainAsync(failed, async: true, cancellationToken).ConfigureAwait(false))
                {
                    throw;
                }
            }
        }
    }

    private static RouteRequest Request(int attempt) =>
        new(false, System.Transactions.Transaction.Current is not null, ExplicitRouteRequired: true, RetryAttempt: attempt);
}
