using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingSdk.Consistency;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>The routing logic shared by the EF Core integration of one application (its clusters' routers): the relational connection, the command and the interceptors.</summary>
internal sealed partial class EfRoutingCore(RoutingSdk.Tenants.ClusterSet clusters, IEnumerable<IRouteDecisionObserver> observers, ILogger logger)
{
    /// <summary>The tag <c>.OnPrimary()</c> puts on a query (EF Core writes tags as SQL comments at the start of the command).</summary>
    public const string PrimaryTag = "RoutingSdk:OnPrimary";

    private readonly IRouteDecisionObserver[] _observers = observers.ToArray();

    public RoutingSdk.Tenants.ClusterSet Clusters { get; } = clusters;

    /// <summary>The router whose settings and health apply to this context now: its open (or last) connection's cluster, else the current tenant's.</summary>
    public QueryRouter RouterFor(RoutingContextState state) => (state.OpenCluster ?? state.LastCluster ?? Clusters.ForSettings()).Router;

    public ILogger Logger { get; } = logger;

    public static RoutingContextState State(DbContext? context)
    {
        if (context is null)
        {
            throw new RoutingException("RoutingSdk saw a connection event without a DbContext; UseQueryRouting supports connections owned by a DbContext only.");
        }

#pragma warning disable EF1001
        return context.GetService<Microsoft.EntityFrameworkCore.Infrastructure.IConcurrencyDetector>() as RoutingContextState
            ?? throw new RoutingException(
                $"RoutingSdk's per-context state is missing from {context.GetType().Name}. UseQueryRouting must be called on the options of this context; "
                + "if the context uses UseInternalServiceProvider or EnableThreadSafetyChecks(false), remove those calls: RoutingSdk relies on EF Core's operation tracking to tell queries from connections you open yourself.");
#pragma warning restore EF1001
    }

    /// <summary>Consistency.CommitTimeout of the context's cluster.</summary>
    public TimeSpan? CommitTimeout(DbContext? context) =>
        (context is null ? Clusters.ForSettings().Router : RouterFor(State(context))).Topology.Options.Consistency.CommitTimeout;

    /// <summary>Chooses the node for a connection that is about to open and installs that node's connection.</summary>
    public void OnOpening(DbContext? context) => OnOpening(context!, State(context));

    /// <inheritdoc cref="OnOpening(DbContext?)"/>
    public void OnOpening(DbContext context, RoutingContextState state)
    {
        QueryRoutingOptionsExtension.EnsureRoutingCommands(context, state);
        state.OpenFailed = false;
        var scope = RoutingScope.Current;
        var request = Request(state, context);
        state.ReleaseLease(); // a slot left by an open that ended without a close event: give it back before taking one
        Lease(state, Clusters.Resolve(scope, MayWrite(request, scope)));
        RouteDecision decision;
        try
        {
            decision = state.OpenCluster!.Router.Decide(request, scope, state.ExcludePool);
        }
        catch
        {
            state.ReleaseLease();
            state.OpenCluster = null;
            throw;
        }

        _ = Apply(context, state, scope, decision);

        // EF Core opens it synchronously next: never on a node already found unreachable.
        NodeWatch.ThrowIfLost(decision.Pool, state);
    }

    /// <summary>
    /// As <see cref="OnOpening(DbContext, RoutingContextState)"/>, waiting asynchronously for the tenant's cluster and
    /// the read-your-writes gate. The open itself is bounded by the node's health (<see cref="RoutingRelationalConnection"/>).
    /// </summary>
    public async ValueTask OnOpeningAsync(DbContext context, RoutingContextState state, CancellationToken cancellationToken)
    {
        QueryRoutingOptionsExtension.EnsureRoutingCommands(context, state);
        state.OpenFailed = false;
        var scope = RoutingScope.Current;
        var request = Request(state, context);
        state.ReleaseLease(); // a slot left by an open that ended without a close event: give it back before taking one
        Lease(state, await Clusters.ResolveAsync(scope, MayWrite(request, scope), async: true, cancellationToken).ConfigureAwait(false));
        try
        {
            var decision = await state.OpenCluster!.Router.DecideAsync(request, scope, state.ExcludePool, cancellationToken).ConfigureAwait(false);
            _ = Apply(context, state, scope, decision);
        }
        catch
        {
            state.ReleaseLease(); // nothing opened: the tenant's slot goes back
            state.OpenCluster = null;
            throw;
        }
    }

    /// <summary>An open failed (or was abandoned): nothing was sent on it, and the tenant's slot goes back.</summary>
    public static void OnOpenFailed(RoutingContextState state, System.Data.Common.DbConnection connection)
    {
        if (connection.State != System.Data.ConnectionState.Open)
        {
            state.OpenFailed = true;
            state.ReleaseLease();
            state.OpenCluster = null;
        }
    }

    /// <summary>Records the open's cluster and the tenant's connection slot (released when the connection closes, or fails to open).</summary>
    private static void Lease(RoutingContextState state, RoutingSdk.Tenants.ClusterSet.Resolved resolved)
    {
        state.ReleaseLease(); // a slot left by an open that failed without a close
        state.Lease = resolved.Lease;
        state.OpenCluster = resolved.Cluster;
        state.LastCluster = resolved.Cluster;
    }

    /// <summary>
    /// Whether the connection may write, for a frozen tenant (several clusters configured): a write, a transaction, a
    /// connection the caller opened, a query marked for the primary, or anything under [MasterOnly].
    /// </summary>
    private static bool MayWrite(in RouteRequest request, RoutingScope? scope) =>
        request.IsWrite || request.InTransaction || request.UserOpenedConnection || request.PrimaryRequested || scope?.Route == RouteKind.MasterOnly;

    /// <summary>
    /// Several clusters configured: a statement on a connection that is open on another cluster than the current
    /// tenant's (the tenant changed while a connection, or a transaction on it, stayed open) is refused before it is sent.
    /// </summary>
    /// <remarks>
    /// <paramref name="mayWrite"/>: the statement may write (SaveChanges, a transaction, a command on a connection
    /// opened where it may have effect). Such a statement is refused, too, when its tenant was moved to another
    /// cluster since its operation began: it would land on the cluster the tenant left. It does not wait for a freeze:
    /// it belongs to work that began before the freeze, which a freeze's drain waits for.
    /// </remarks>
    public void EnsureSameCluster(DbContext? context, bool mayWrite)
    {
        if (Clusters.IsMulti && context is not null)
        {
            EnsureSameCluster(State(context), mayWrite);
        }
    }

    /// <inheritdoc cref="EnsureSameCluster(DbContext?, bool)"/>
    public void EnsureSameCluster(RoutingContextState state, bool mayWrite)
    {
        if (!Clusters.IsMulti || state.OpenCluster is not { } open)
        {
            return;
        }

        var current = Clusters.ClusterOfOpenConnection(RoutingScope.Current, mayWrite);
        if (!ReferenceEquals(current, open))
        {
            var tenant = TenantScope.CurrentTenant is { } t ? $"the current tenant ('{t}')" : "work without a tenant";
            throw new CrossClusterOperationException(
                open.Name!, current.Name!,
                $"The context's connection is open on {open.DisplayName}, and {tenant} belongs to {current.DisplayName}: "
                + "a connection or transaction cannot serve two clusters. Close the connection (or end the transaction) before the tenant changes; use one context per tenant.");
        }
    }

    private static RouteRequest Request(RoutingContextState state, DbContext context)
    {
        var inTransaction = System.Transactions.Transaction.Current is not null || context.Database.CurrentTransaction is not null;
        var isWrite = state.PendingWrite;

        // Anything EF Core does not open for one of its own operations (Database.OpenConnection(), BeginTransaction())
        // may host writes, a transaction or session state later: the primary.
        var userOpened = !state.InEfOperation && !isWrite;
        return new RouteRequest(
            isWrite, inTransaction, UserOpenedConnection: userOpened, RetryAttempt: state.RetryAttempt,
            PrimaryRequested: state.PrimaryRequested, ReplicationUnconfirmed: state.ReplicationUnconfirmed);
    }

    /// <summary>
    /// Installs the chosen pool's connection as the context's DbConnection before EF Core opens it. Switching the
    /// connection object, rather than its ConnectionString, keeps the connection attached to the pool's
    /// NpgsqlDataSource: a connection string set by hand would open through Npgsql's global pool without the
    /// data source's type mappings and plugins. <see cref="RoutingRelationalConnection"/> calls this before EF Core's own
    /// open (RelationalConnection.Open → OpenDbConnection), so the new object is the one opened.
    /// </summary>
    private static Npgsql.NpgsqlConnection Apply(DbContext context, RoutingContextState state, RoutingScope? scope, RouteDecision decision)
    {
        var pool = decision.Pool;
        if (!state.ExtrasResolved)
        {
            state.Extras = ProviderDataSourceExtras.Resolve(context);
            state.ExtrasResolved = true;
        }

        var target = state.ConnectionFor(pool);
        var relational = state.Relational ??= context.GetService<Microsoft.EntityFrameworkCore.Storage.IRelationalConnection>();
        if (!ReferenceEquals(relational.DbConnection, target))
        {
            // Not owned: the context must not dispose a connection it will reuse; RoutingContextState disposes them.
            // SetDbConnection resets the connection service, command timeout included: keep the user's timeout.
            var commandTimeout = relational.CommandTimeout;
            relational.SetDbConnection(target, contextOwnsConnection: false);
            relational.CommandTimeout = commandTimeout;
        }

        state.OpenPool = pool;
        state.BindingMayHaveEffect = decision.MayHaveEffect;
        state.OpenScope = scope;
        state.LastOpenedPool = pool;
        if (pool.AcceptTxSession)
        {
            state.WroteInAttempt |= decision.MayHaveEffect;
        }
        else
        {
            state.LastReadPool = pool;
        }

        return target;
    }

    /// <summary>The connection closed: nothing is open through routing any more.</summary>
    public static void OnClosed(DbContext? context)
    {
        if (context is not null)
        {
            OnClosed(State(context));
        }
    }

    /// <inheritdoc cref="OnClosed(DbContext?)"/>
    public static void OnClosed(RoutingContextState state)
    {
        if (state.Watch is { Armed: true } watch)
        {
            watch.Disarm();
            if (watch.Aborted)
            {
                state.AbortedPool = watch.Pool; // the failure being handled is the node's, whatever Npgsql called it
            }
        }

        if (state.BindingMayHaveEffect)
        {
            // Read-your-writes: what this connection did is committed now (autocommit statements, or the transaction
            // ended before the close). A capture taken while it was still running must not count as covering it.
            state.OpenScope?.Operation.MarkWrite();
        }

        state.OpenPool = null;
        state.OpenCluster = null;
        state.ReleaseLease();
        state.BindingMayHaveEffect = false;
        state.PendingWrite = false;
    }

    /// <summary>Watches the opened connection's node: if the health monitor finds it unreachable, the connection is aborted.</summary>
    public static void OnOpened(RoutingContextState state, System.Data.Common.DbConnection connection)
    {
        if (state.OpenPool is not { } pool || connection is not Npgsql.NpgsqlConnection npgsql)
        {
            return;
        }

        (state.Watch ??= new NodeWatch()).Arm(npgsql, pool); // one watch per context, re-armed at every open
    }

    /// <summary>Marks a write announced before its connection opens.</summary>
    public static void MarkWrite(DbContext context)
    {
        var state = State(context);
        state.PendingWrite = true;
        state.WroteInAttempt = true;
    }

    /// <summary>Last line before the server: a write or a transaction never runs on a connection open on a replica.</summary>
    public static void EnsureNotOnReplica(DbContext? context, string what)
    {
        if (context is not null && State(context).OpenPool is { AcceptTxSession: false } pool)
        {
            throw OnReplica(what, pool);
        }
    }

    /// <summary>The same check for a write command; its description is built only when it fails.</summary>
    public static void EnsureNotOnReplica(RoutingContextState state, CommandSource source)
    {
        if (state.OpenPool is { AcceptTxSession: false } pool)
        {
            throw OnReplica($"A {source} command", pool);
        }
    }

    private static RoutingException OnReplica(string what, RoutingPool pool) =>
        new(
            $"{what} was about to run on {pool.DisplayName}, a read replica, because the context's connection was already open there "
            + "(a streaming query is still being read). Finish reading the query (ToList/ToListAsync) before writing or starting a transaction, "
            + "or run the operation under RoutingScope.Begin(RouteKind.MasterOnly).");

    /// <summary>
    /// Reports a commit the synchronous replicas did not confirm: the rest of the operation reads from the primary,
    /// observers and metrics hear of it, and (by default) the caller gets <see cref="SynchronousReplicationNotConfirmedException"/>.
    /// </summary>
    public void ReportUnconfirmedCommit(DbContext? context, bool deferInsideSaveChanges)
    {
        if (context is null)
        {
            return;
        }

        var state = State(context);
        if (state.UnconfirmedCommitNotice is not { } notice || (deferInsideSaveChanges && state.InSaveChanges))
        {
            return;
        }

        state.UnconfirmedCommitNotice = null;
        var scope = state.OpenScope ?? RoutingScope.Current;
        scope?.Operation.MarkReplicationUnconfirmed();
        state.ReplicationUnconfirmed = true; // outside any scope too: this context's later reads stay on the primary
        // The node that committed: the connection the notice came on (the primary then), whatever is primary now.
        var pool = state.OpenPool is { AcceptTxSession: true } open ? open
            : state.LastOpenedPool is { AcceptTxSession: true } last ? last
            : RouterFor(state).CurrentPrimary;
        var poolName = pool?.Name ?? "(primary)";
        var router = RouterFor(state);
        router.Metrics.UnconfirmedCommits.Add(1, new KeyValuePair<string, object?>("pool", poolName));
        UnconfirmedCommitLog(Logger, pool?.DisplayName ?? poolName, scope?.Scenario, notice);
        var commit = new UnconfirmedCommit(poolName, notice, scope?.Scenario);
        foreach (var observer in _observers)
        {
            observer.OnUnconfirmedCommit(commit);
        }

        if (router.Topology.Options.Consistency.OnUnconfirmedCommit == UnconfirmedCommitBehavior.Throw)
        {
            throw new SynchronousReplicationNotConfirmedException(poolName, notice);
        }
    }

    public static bool IsWrite(CommandSource source) => source is
        CommandSource.SaveChanges or CommandSource.ExecuteUpdate or CommandSource.ExecuteDelete or CommandSource.ExecuteSqlRaw
        or CommandSource.Migrations;

    /// <summary>Thrown inside an attempt to send a <c>.OnPrimary()</c> query to the primary; never leaves the execution strategy.</summary>
    internal sealed class RerouteToPrimaryException() : Exception("RoutingSdk internal: re-run on the primary.");

    [LoggerMessage(40, LogLevel.Error, "Commit on {Pool} was not confirmed by the synchronous replicas (operation {Scenario}): {Notice}. Its reads stay on the primary.")]
    private static partial void UnconfirmedCommitLog(ILogger logger, string pool, string? scenario, string notice);
}
