using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// Marks writes before their connection opens (EF Core creates non-query commands first) and refuses a write on a
/// connection that is open on a replica.
/// </summary>
internal sealed class RoutingCommandInterceptor : DbCommandInterceptor
{
    public override InterceptionResult<DbCommand> CommandCreating(CommandCorrelatedEventData eventData, InterceptionResult<DbCommand> result)
    {
        if (EfRoutingCore.IsWrite(eventData.CommandSource) && eventData.Context is { } context)
        {
            EfRoutingCore.State(context).PendingWrite = true;
        }

        return result;
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        CheckWrite(eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        CheckWrite(eventData);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        CheckWrite(eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        CheckWrite(eventData);
        return ValueTask.FromResult(result);
    }

    private static void CheckWrite(CommandEventData eventData)
    {
        if (EfRoutingCore.IsWrite(eventData.CommandSource))
        {
            EfRoutingCore.EnsureNotOnReplica(eventData.Context, $"A {eventData.CommandSource} command");
        }
    }
}
