using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Infrastructure.Internal;
using RoutingSdk.Pools;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// Per-DbContext routing state, installed in place of EF Core's concurrency detector (a scoped service, one per
/// context). EF Core enters the detector's critical section around every operation it runs itself — queries,
/// SaveChanges, ExecuteUpdate/Delete, ExecuteSql — and not around <c>Database.OpenConnection()</c> or
/// <c>BeginTransaction()</c>. A connection opened outside that section was opened by the caller.
/// </summary>
#pragma warning disable EF1001 // ConcurrencyDetector is EF Core infrastructure; its virtual members are the extension point used here.
internal sealed class RoutingContextState : ConcurrencyDetector, IResettableService, IDisposable, IOpenAbandonedListener
{
    private int _operationDepth;
    private (Npgsql.NpgsqlDataSource Source, Npgsql.NpgsqlConnection Connection)[] _connections = [];

    /// <summary>EF Core's connection service of this context (where the routed connection is installed).</summary>
    public Microsoft.EntityFrameworkCore.Storage.IRelationalConnection? Relational { get; set; }

    /// <summary>Drops a connection from the per-pool cache (an open abandoned because its node was found unreachable).</summary>
    public void Forget(Npgsql.NpgsqlConnection connection) =>
        _connections = [.. _connections.Where(c => !ReferenceEquals(c.Connection, connection))];

    /// <summary>
    /// This context's connection to <paramref name="pool"/>: made by the pool's own data source, so enum mappings,
    /// plugins, password providers and logging configured there apply; kept for the context's lifetime (a closed
    /// connection holds nothing but its settings), one per data source.
    /// </summary>
    public Npgsql.NpgsqlConnection ConnectionFor(RoutingPool pool)
    {
        var source = pool.DataSourceFor(Extras);
        foreach (var (s, c) in _connections)
        {
            if (ReferenceEquals(s, source))
            {
                return c;
            }
        }

        var connection = source.CreateConnection();

        // The sync-commit trap: PostgreSQL reports a commit whose wait for the replicas was cancelled only as a
        // notice. Recognised by the server function that raises it, not by its (translated) text.
        connection.Notice += (_, e) =>
        {
            if (e.Notice.Routine == "SyncRepWaitForLSN")
            {
                UnconfirmedCommitNotice = e.Notice.MessageText;
            }
        };
        _connections = [.. _connections, (source, connection)];
        return connection;
    }

    /// <summary>An open refused or abandoned because the monitor found <paramref name="pool"/> lost: nothing was sent there.</summary>
    void IOpenAbandonedListener.OnOpenAbandoned(RoutingPool pool, Npgsql.NpgsqlConnection? connection)
    {
        AbortedPool = pool;
        OpenFailed = true;
        if (connection is not null)
        {
            Forget(connection); // it may still be opening in the background: the next open of this pool gets a new one
        }
    }

    private bool? _strategyRetries;

    /// <summary>
    /// Whether EF Core buffers this context's query results inside the execution strategy: it asks the strategy EF
    /// Core is running (<see cref="Microsoft.EntityFrameworkCore.Storage.ExecutionStrategy.Current"/>) or else the
    /// context's own, as it does when it compiles a query.
    /// </summary>
    public bool ResultsBuffered(Microsoft.EntityFrameworkCore.DbContext context) =>
        Microsoft.EntityFrameworkCore.Storage.ExecutionStrategy.Current?.RetriesOnFailure
        ?? (_strategyRetries ??= context.GetService<Microsoft.EntityFrameworkCore.Storage.IExecutionStrategy>().RetriesOnFailure);

    /// <summary>The pool of the connection opened last in the current attempt, primary or replica: the node a failure happened on.</summary>
    public RoutingPool? LastOpenedPool { get; set; }

    /// <summary>The last connection open of this context failed (nothing was sent on it).</summary>
    public bool OpenFailed { get; set; }

    /// <summary>A write command was sent in the current attempt and has not completed: its outcome is unknown if the connection dies.</summary>
    public bool WriteInFlight { get; set; }

    /// <summary>A write completed in the current attempt: re-running the attempt would repeat it.</summary>
    public bool WriteCompletedInAttempt { get; set; }

    /// <summary>Until when (Environment.TickCount64) the current operation waits for a primary; 0 when it is not waiting.</summary>
    public long PrimaryWaitDeadline { get; set; }

    /// <summary>A query marked <c>.OnPrimary()</c> reached a replica connection: the attempt is re-run on the primary.</summary>
    public bool PrimaryRequested { get; set; }

    /// <summary>The transaction RoutingSdk opened around an autocommit write so that CommitTimeout bounds only its COMMIT.</summary>
    public Npgsql.NpgsqlTransaction? CommitTimeoutTransaction { get; set; }

    /// <summary>SaveChanges switched AutoTransactionBehavior to Always for CommitTimeout; restore it afterwards.</summary>
    public Microsoft.EntityFrameworkCore.AutoTransactionBehavior? RestoreAutoTransaction { get; set; }

    /// <summary>A commit of this context was not confirmed by the synchronous replicas: its later reads stay on the primary.</summary>
    public bool ReplicationUnconfirmed { get; set; }

    /// <summary>EF Core is running an operation of its own on this context.</summary>
    public bool InEfOperation => _operationDepth > 0;

    /// <summary>What the context's UseNpgsql(...) declares for its data source (enums, plugins), carried to every pool; fixed per options.</summary>
    public DataSourceExtras? Extras { get; set; }

    /// <summary>Whether <see cref="Extras"/> was read from the context's options yet.</summary>
    public bool ExtrasResolved { get; set; }

    /// <summary>Watches the open connection's node (<see cref="NodeWatch"/>, armed while a routed connection is open); null until the first open.</summary>
    public NodeWatch? Watch { get; set; }

    /// <summary>The pool whose connection the health monitor aborted in this attempt (its node was unreachable).</summary>
    public RoutingPool? AbortedPool { get; set; }

    /// <summary>A write was announced (SavingChanges, or a non-query command created before its connection opened).</summary>
    public bool PendingWrite { get; set; }

    /// <summary>
    /// The open connection was bound by a decision whose statements may take effect (see <c>RouteDecision.MayHaveEffect</c>):
    /// any statement on it — a posting function in a SELECT included — counts as a write for the re-run judgement.
    /// </summary>
    public bool BindingMayHaveEffect { get; set; }

    /// <summary>The pool the context's connection is open on, if it is open through routing.</summary>
    public RoutingPool? OpenPool { get; set; }

    /// <summary>The pool of the last routed open that served a read on a replica in the current attempt.</summary>
    public RoutingPool? LastReadPool { get; set; }

    /// <summary>The current execution-strategy attempt wrote or used a transaction: it must never be retried.</summary>
    public bool WroteInAttempt { get; set; }

    /// <summary>0 on a first try; the retry number while the execution strategy retries a cancelled read.</summary>
    public int RetryAttempt { get; set; }

    /// <summary>The pool a retried read must avoid.</summary>
    public RoutingPool? ExcludePool { get; set; }

    /// <summary>Nesting depth of RoutingSdk's execution strategy (only the outermost one retries).</summary>
    public int StrategyDepth { get; set; }

    /// <summary>Inside SaveChanges (between SavingChanges and SavedChanges/SaveChangesFailed).</summary>
    public bool InSaveChanges { get; set; }

    /// <summary>PostgreSQL's notice that a commit's wait for synchronous replication was cancelled, not yet reported.</summary>
    public string? UnconfirmedCommitNotice { get; set; }

    /// <summary>The scope in force when the connection opened (for marking the operation).</summary>
    public RoutingScope? OpenScope { get; set; }

    /// <summary>The cluster the context's connection is open on (several clusters configured: it must not serve another).</summary>
    public RoutingSdk.Tenants.RoutingCluster? OpenCluster { get; set; }

    /// <summary>The cluster of the last routed open (its settings and health judge what happened there).</summary>
    public RoutingSdk.Tenants.RoutingCluster? LastCluster { get; set; }

    /// <summary>The tenant's connection slot held by the open connection (several clusters configured).</summary>
    /// <summary>The routing core of this context's options (cached at its first routed command).</summary>
    public EfRoutingCore? Core { get; set; }

    /// <summary>Whether the context's commands were found to be RoutingSdk's (checked at its first open).</summary>
    public bool CommandsVerified { get; set; }

    public RoutingSdk.Tenants.TenantLease? Lease
    {
        get => Volatile.Read(ref _lease);
        set => Volatile.Write(ref _lease, value);
    }

    private RoutingSdk.Tenants.TenantLease? _lease;

    /// <summary>Gives the tenant's connection slot back (the connection closed or broke, or never opened).</summary>
    public void ReleaseLease() => Interlocked.Exchange(ref _lease, null)?.Release();

    public override ConcurrencyDetectorCriticalSectionDisposer EnterCriticalSection()
    {
        var disposer = base.EnterCriticalSection();
        _operationDepth++;
        return disposer;
    }

    public override void ExitCriticalSection()
    {
        _operationDepth--;
        base.ExitCriticalSection();
    }

    /// <summary>A pooled context is handed out again: nothing of the previous lease carries over.</summary>
    public void ResetState()
    {
        // A connection the previous user opened (Database.OpenConnection()) and left open: EF Core does not close a
        // connection it does not own, and the next lease may be another tenant's, on another cluster.
        foreach (var (_, connection) in _connections)
        {
            if (connection.State != System.Data.ConnectionState.Closed)
            {
                connection.Close();
            }
        }

        ReleaseLease();
        OpenCluster = null;
        LastCluster = null;
        Watch?.Dispose();
        Watch = null;
        AbortedPool = null;
        PendingWrite = false;
        OpenPool = null;
        BindingMayHaveEffect = false;
        LastReadPool = null;
        WroteInAttempt = false;
        RetryAttempt = 0;
        ExcludePool = null;
        StrategyDepth = 0;
        InSaveChanges = false;
        UnconfirmedCommitNotice = null;
        OpenScope = null;
        LastOpenedPool = null;
        PrimaryRequested = false;
        ReplicationUnconfirmed = false;
        CommitTimeoutTransaction = null;
        RestoreAutoTransaction = null;
        OpenFailed = false;
        WriteInFlight = false;
        WriteCompletedInAttempt = false;
        PrimaryWaitDeadline = 0;
    }

    public void Dispose()
    {
        ReleaseLease();
        foreach (var (_, connection) in _connections)
        {
            connection.Dispose();
        }

        _connections = [];
    }

    public Task ResetStateAsync(CancellationToken cancellationToken = default)
    {
        ResetState();
        return Task.CompletedTask;
    }
}
#pragma warning restore EF1001
