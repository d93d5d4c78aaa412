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

/// <summary>The routing logic shared by the EF Core interceptors of one <see cref="QueryRouter"/>.</summary>
internal sealed partial class EfRoutingCore(QueryRouter router, CausalReadGate gate, IEnumerable<IRouteDecisionObserver> observers, ILogger logger)
{
    private readonly IRouteDecisionObserver[] _observers = observers.ToArray();

    public QueryRouter Router { get; } = router;

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

    /// <summary>Chooses the node for a connection that is about to open and points the connection at it.</summary>
    public void OnOpening(DbConnection connection, DbContext? context)
    {
        var (state, scope, request, decision) = Decide(context);
        if (decision.PoolRole == PoolRole.AsyncReplica && !gate.MayRead(Router, decision.Pool, scope))
        {
            decision = Router.Peek(request with { AvoidAsyncReplicas = true }, scope, state.ExcludePool);
        }

        Router.Record(decision, scope);
        Apply(connection, state, scope, decision);
    }

    public async ValueTask OnOpeningAsync(DbConnection connection, DbContext? context, CancellationToken cancellationToken)
    {
        var (state, scope, request, decision) = Decide(context);
        if (decision.PoolRole == PoolRole.AsyncReplica && !await gate.MayReadAsync(Router, decision.Pool, scope, cancellationToken).ConfigureAwait(false))
        {
            decision = Router.Peek(request with { AvoidAsyncReplicas = true }, scope, state.ExcludePool);
        }

        Router.Record(decision, scope);
        Apply(connection, state, scope, decision);
    }

    private (RoutingContextState, RoutingScope?, RouteRequest, RouteDecision) Decide(DbContext? context)
    {
        var state = State(context);
        var scope = RoutingScope.Current;
        var inTransaction = System.Transactions.Transaction.Current is not null || context!.Database.CurrentTransaction is not null;
        var isWrite = state.PendingWrite;

        // Anything EF Core does not open for one of its own operations (Database.OpenConnection(), BeginTransaction())
        // may host writes, a transaction or session state later: the primary.
        var userOpened = !state.InEfOperation && !isWrite;
        var request = new RouteRequest(isWrite, inTransaction, UserOpenedConnection: userOpened, RetryAttempt: state.RetryAttempt);
        return (state, scope, request, Router.Peek(request, scope, state.ExcludePool));
    }

    private void Apply(DbConnection connection, RoutingContextState state, RoutingScope? scope, RouteDecision decision)
    {
        var pool = decision.Pool;
        state.HomeConnectionString ??= connection.ConnectionString;
        if (!ReferenceEquals(state.OpenPool, pool) || !string.Equals(connection.ConnectionString, pool.ConnectionString, StringComparison.Ordinal))
        {
            connection.ConnectionString = pool.ConnectionString;
        }

        state.OpenPool = pool;
        state.OpenScope = scope;
        if (pool.AcceptTxSession)
        {
            state.WroteInAttempt |= decision.Reason is RouteDecisionReason.WriteCommand or RouteDecisionReason.InsideTransaction or RouteDecisionReason.UserOpenedConnection;
            if (connection is NpgsqlConnection npgsql)
            {
                // The sync-commit trap: PostgreSQL reports a commit whose wait for the replicas was cancelled only as a notice.
                state.NoticeHandler ??= (_, e) =>
                {
                    if (e.Notice.SqlState == "01000" && e.Notice.MessageText.StartsWith("canceling wait for synchronous replication", StringComparison.Ordinal))
                    {
                        state.UnconfirmedCommitNotice = e.Notice.MessageText;
                    }
                };
                npgsql.Notice += state.NoticeHandler;
            }
        }
        else
        {
            state.LastReadPool = pool;
        }
    }

    /// <summary>Puts the connection back on its home connection string (context pooling reuses it).</summary>
    public static void OnClosed(DbConnection connection, DbContext? context)
    {
        if (context is null)
        {
            return;
        }

        var state = State(context);
        if (state.NoticeHandler is not null && connection is NpgsqlConnection npgsql)
        {
            npgsql.Notice -= state.NoticeHandler;
        }

        state.OpenPool = null;
        state.PendingWrite = false;
        if (state.HomeConnectionString is { } home && !string.Equals(connection.ConnectionString, home, StringComparison.Ordinal))
        {
            connection.ConnectionString = home;
        }
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
        if (context is null)
        {
            return;
        }

        var state = State(context);
        if (state.OpenPool is { AcceptTxSession: false } pool)
        {
            throw new RoutingException(
                $"{what} was about to run on {pool.DisplayName}, a read replica, because the context's connection was already open there "
                + "(a streaming query is still being read). Finish reading the query (ToList/ToListAsync) before writing or starting a transaction, "
                + "or run the operation under RoutingScope.Begin(RouteKind.MasterOnly).");
        }
    }

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
        var pool = Router.WritePool;
        RoutingMetrics.UnconfirmedCommits.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
        UnconfirmedCommitLog(Logger, pool.DisplayName, scope?.Scenario, notice);
        var commit = new UnconfirmedCommit(pool.Name, notice, scope?.Scenario);
        foreach (var observer in _observers)
        {
            observer.OnUnconfirmedCommit(commit);
        }

        if (Router.Topology.Options.Consistency.OnUnconfirmedCommit == UnconfirmedCommitBehavior.Throw)
        {
            throw new SynchronousReplicationNotConfirmedException(pool.Name, notice);
        }
    }

    public static bool IsWrite(CommandSource source) => source is
        CommandSource.SaveChanges or CommandSource.ExecuteUpdate or CommandSource.ExecuteDelete or CommandSource.ExecuteSqlRaw
        or CommandSource.Migrations;

    [LoggerMessage(40, LogLevel.Error, "Commit on {Pool} was not confirmed by the synchronous replicas (operation {Scenario}): {Notice}. Its reads stay on the primary.")]
    private static partial void UnconfirmedCommitLog(ILogger logger, string pool, string? scenario, string notice);
}
