using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// Marks writes before their connection opens (EF Core creates non-query commands first), refuses a write on a
/// connection that is open on a replica, applies the opt-in commit timeout to autocommit writes, and reports a
/// commit the synchronous replicas did not confirm.
/// </summary>
internal sealed class RoutingCommandInterceptor(EfRoutingCore core) : DbCommandInterceptor
{
    public override InterceptionResult<DbCommand> CommandCreating(CommandCorrelatedEventData eventData, InterceptionResult<DbCommand> result)
    {
        if (EfRoutingCore.IsWrite(eventData.CommandSource) && eventData.Context is { } context)
        {
            EfRoutingCore.MarkWrite(context);
        }

        return result;
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        BeforeExecute(command, eventData);
        BeginCommitTimeoutTransaction(command, eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        BeforeExecute(command, eventData);
        BeginCommitTimeoutTransaction(command, eventData);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        BeforeExecute(command, eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        BeforeExecute(command, eventData);
        return ValueTask.FromResult(result);
    }

    public override DbDataReader ReaderExecuted(DbCommand command, CommandExecutedEventData eventData, DbDataReader result) => Streamed(eventData, result);

    public override ValueTask<DbDataReader> ReaderExecutedAsync(DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Streamed(eventData, result));

    /// <summary>
    /// A routed query whose rows EF Core hands over as they arrive (not buffered inside the attempt) reads through
    /// <see cref="Retry.StreamedResultReader"/>: its execution strategy has ended by the time a failure after the first
    /// rows comes, and such a failure is still judged by RoutingSdk (a recovery conflict on a replica, a lost primary
    /// under a posting function). A buffered query reads its whole result inside the attempt, where the execution
    /// strategy judges a failure.
    /// </summary>
    private DbDataReader Streamed(CommandExecutedEventData eventData, DbDataReader reader)
    {
        if (eventData.CommandSource is not (CommandSource.LinqQuery or CommandSource.FromSqlQuery) || eventData.Context is not { } context
            || EfRoutingCore.State(context) is not { OpenPool: { } pool } state
            || state.ResultsBuffered(context))
        {
            return reader;
        }

        return new Retry.StreamedResultReader(reader, pool, state, core.RouterFor(state), core.Logger);
    }

    public override int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        WriteCompleted(eventData);
        CommitWithTimeoutAsync(eventData, CancellationToken.None).GetAwaiter().GetResult();
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);
        return result;
    }

    public override async ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        WriteCompleted(eventData);
        await CommitWithTimeoutAsync(eventData, cancellationToken).ConfigureAwait(false);
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);
        return result;
    }

    // A non-query write (ExecuteUpdate/Delete, ExecuteSql) is done once it returned; SaveChanges is done at SavedChanges.
    private static void WriteCompleted(CommandExecutedEventData eventData)
    {
        if (EfRoutingCore.IsWrite(eventData.CommandSource) && eventData.CommandSource != CommandSource.SaveChanges && eventData.Context is { } context)
        {
            var state = EfRoutingCore.State(context);
            state.WriteInFlight = false;
            state.WriteCompletedInAttempt = true;
        }
    }

    public override void CommandFailed(DbCommand command, CommandErrorEventData eventData) => RollbackCommitTimeoutTransaction(eventData);

    public override Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        RollbackCommitTimeoutTransaction(eventData);
        return Task.CompletedTask;
    }

    // A cancelled command is not a failed one to EF Core: without these, its CommitTimeout transaction stayed on the
    // context and the next write ran inside it.
    public override void CommandCanceled(DbCommand command, CommandEndEventData eventData) => RollbackCommitTimeoutTransaction(eventData);

    public override Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default)
    {
        RollbackCommitTimeoutTransaction(eventData);
        return Task.CompletedTask;
    }

    /// <summary>
    /// With <see cref="ConsistencyOptions.CommitTimeout"/> set, an autocommit write (ExecuteUpdate/Delete, ExecuteSql)
    /// runs in a transaction of its own so that the timeout bounds the COMMIT's wait for the synchronous replicas,
    /// not the statement: a long UPDATE is not cut short. Npgsql sends BEGIN with the statement (no extra round trip);
    /// the COMMIT is one.
    /// </summary>
    private void BeginCommitTimeoutTransaction(DbCommand command, CommandEventData eventData)
    {
        if (command.Transaction is not null || eventData.Context is not { } context || !EfRoutingCore.IsWrite(eventData.CommandSource)
            || core.RouterFor(EfRoutingCore.State(context)).Topology.Options.Consistency.CommitTimeout is null || System.Transactions.Transaction.Current is not null
            || command.Connection is not Npgsql.NpgsqlConnection { State: System.Data.ConnectionState.Open } connection)
        {
            return;
        }

        var transaction = connection.BeginTransaction();
        command.Transaction = transaction;
        EfRoutingCore.State(context).CommitTimeoutTransaction = transaction;
    }

    private async Task CommitWithTimeoutAsync(CommandExecutedEventData eventData, CancellationToken cancellationToken)
    {
        if (eventData.Context is not { } context || EfRoutingCore.State(context) is not { CommitTimeoutTransaction: { } transaction } state)
        {
            return;
        }

        state.CommitTimeoutTransaction = null;
        await using (transaction.ConfigureAwait(false))
        {
            await EfRoutingCore.CommitWithTimeoutAsync(transaction, core.RouterFor(EfRoutingCore.State(eventData.Context!)).Topology.Options.Consistency.CommitTimeout!.Value, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void RollbackCommitTimeoutTransaction(CommandEndEventData eventData)
    {
        if (eventData.Context is not { } context || EfRoutingCore.State(context) is not { CommitTimeoutTransaction: { } transaction } state)
        {
            return;
        }

        state.CommitTimeoutTransaction = null;
        try
        {
            if (transaction.Connection is { State: System.Data.ConnectionState.Open })
            {
                transaction.Rollback();
            }
        }
        finally
        {
            transaction.Dispose();
        }
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        BeforeExecute(command, eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        BeforeExecute(command, eventData);
        return ValueTask.FromResult(result);
    }

    private void BeforeExecute(DbCommand command, CommandEventData eventData)
    {
        if (eventData.Context is not { } context)
        {
            return;
        }

        // EF Core creates non-query commands before it opens the connection, and opening installed the chosen
        // pool's connection object: point the command at the connection that is actually open.
        var state = EfRoutingCore.State(context);
        core.EnsureSameCluster(state, state.BindingMayHaveEffect);
        if (state.Relational?.DbConnection is { } open && !ReferenceEquals(command.Connection, open))
        {
            command.Connection = open;
        }

        if (!EfRoutingCore.IsWrite(eventData.CommandSource))
        {
            if (EfRoutingCore.EnsureMarkedQueryOnPrimary(command, state) && state.OpenPool is { AcceptTxSession: true })
            {
                state.BindingMayHaveEffect = true; // marked .OnPrimary(): no longer a stand-in read, whatever opened the connection
                state.WroteInAttempt = true;
            }

            if (state.BindingMayHaveEffect && state.OpenPool is { AcceptTxSession: true })
            {
                // A query on a connection routed to the primary as a non-read (under [MasterOnly], .OnPrimary(), a
                // connection the caller opened): it may call a function that writes (SELECT post_invoice(...)). Its
                // outcome is unknown if the connection dies, exactly like a SaveChanges. A statement after it means the
                // one before completed: re-running the attempt would repeat that one.
                state.WriteCompletedInAttempt |= state.WriteInFlight && !state.InSaveChanges;
                state.WriteInFlight = true;
            }

            return;
        }

        EfRoutingCore.EnsureNotOnReplica(state, eventData.CommandSource);
        state.WriteInFlight = true;
    }
}
