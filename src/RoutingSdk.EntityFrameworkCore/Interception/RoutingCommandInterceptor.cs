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
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        BeforeExecute(command, eventData);
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

    public override int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);
        return result;
    }

    public override ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);
        return ValueTask.FromResult(result);
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
        // EF Core creates non-query commands before it opens the connection, and opening installed the chosen
        // pool's connection object: point the command at the connection that is actually open.
        if (eventData.Context is { } context && EfRoutingCore.State(context).Relational?.DbConnection is { } open && !ReferenceEquals(command.Connection, open))
        {
            command.Connection = open;
        }

        if (!EfRoutingCore.IsWrite(eventData.CommandSource))
        {
            EfRoutingCore.EnsureMarkedQueryOnPrimary(command, eventData.Context);
            return;
        }

        EfRoutingCore.EnsureNotOnReplica(eventData.Context, $"A {eventData.CommandSource} command");

        // Outside an explicit transaction the statement commits itself: the opt-in commit timeout bounds its wait
        // for the synchronous replicas (PostgreSQL then returns with the "canceling wait" notice, committed locally).
        if (command.Transaction is null && core.Router.Topology.Options.Consistency.CommitTimeout is { } timeout)
        {
            var seconds = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds));
            if (command.CommandTimeout == 0 || command.CommandTimeout > seconds)
            {
                command.CommandTimeout = seconds;
            }
        }
    }
}
