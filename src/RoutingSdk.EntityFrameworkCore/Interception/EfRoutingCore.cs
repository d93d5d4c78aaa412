using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using RoutingSdk.Routing;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>The routing logic shared by the EF Core interceptors of one <see cref="QueryRouter"/>.</summary>
internal sealed class EfRoutingCore(QueryRouter router)
{
    public QueryRouter Router { get; } = router;

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
        var state = State(context);
        var inTransaction = System.Transactions.Transaction.Current is not null || context!.Database.CurrentTransaction is not null;
        var isWrite = state.PendingWrite;

        // Anything EF Core does not open for one of its own operations (Database.OpenConnection(), BeginTransaction())
        // may host writes, a transaction or session state later: the primary.
        var userOpened = !state.InEfOperation && !isWrite;
        var decision = Router.Decide(new RouteRequest(isWrite, inTransaction, UserOpenedConnection: userOpened));
        var pool = decision.Pool;

        state.HomeConnectionString ??= connection.ConnectionString;
        if (!ReferenceEquals(state.OpenPool, pool) || !string.Equals(connection.ConnectionString, pool.ConnectionString, StringComparison.Ordinal))
        {
            connection.ConnectionString = pool.ConnectionString;
        }

        state.OpenPool = pool;
    }

    /// <summary>Puts the connection back on its home connection string (context pooling reuses it).</summary>
    public static void OnClosed(DbConnection connection, DbContext? context)
    {
        if (context is null)
        {
            return;
        }

        var state = State(context);
        state.OpenPool = null;
        state.PendingWrite = false;
        if (state.HomeConnectionString is { } home && !string.Equals(connection.ConnectionString, home, StringComparison.Ordinal))
        {
            connection.ConnectionString = home;
        }
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

    public static bool IsWrite(CommandSource source) => source is
        CommandSource.SaveChanges or CommandSource.ExecuteUpdate or CommandSource.ExecuteDelete or CommandSource.ExecuteSqlRaw
        or CommandSource.Migrations;
}
