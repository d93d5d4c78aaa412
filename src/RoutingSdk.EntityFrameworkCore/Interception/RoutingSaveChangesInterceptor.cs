using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>SaveChanges is announced before it opens its connection: mark the write so the open goes to the primary.</summary>
internal sealed class RoutingSaveChangesInterceptor : SaveChangesInterceptor
{
    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        MarkWrite(eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(
        DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        MarkWrite(eventData);
        return ValueTask.FromResult(result);
    }

    private static void MarkWrite(DbContextEventData eventData)
    {
        if (eventData.Context is { } context)
        {
            EfRoutingCore.EnsureNotOnReplica(context, "SaveChanges");
            EfRoutingCore.State(context).PendingWrite = true;
        }
    }
}
