using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>SaveChanges is announced before it opens its connection: mark the write so the open goes to the primary.</summary>
internal sealed class RoutingSaveChangesInterceptor(EfRoutingCore core) : SaveChangesInterceptor
{
    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        Begin(eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(
        DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Begin(eventData);
        return ValueTask.FromResult(result);
    }

    public override int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        End(eventData);
        return result;
    }

    public override ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        End(eventData);
        return ValueTask.FromResult(result);
    }

    public override void SaveChangesFailed(DbContextErrorEventData eventData) => Failed(eventData);

    public override Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Failed(eventData);
        return Task.CompletedTask;
    }

    private void Begin(DbContextEventData eventData)
    {
        if (eventData.Context is { } context)
        {
            EfRoutingCore.EnsureNotOnReplica(context, "SaveChanges");
            var state = EfRoutingCore.State(context);
            core.EnsureSameCluster(state, mayWrite: true); // before EF Core's own error handling, which would wrap it in DbUpdateException
            EfRoutingCore.MarkWrite(context);
            state.InSaveChanges = true;

            // CommitTimeout bounds the COMMIT's wait for the replicas, not the statements: a single-statement
            // SaveChanges, which EF Core runs without a transaction, gets one so that its commit can be bounded.
            if (core.RouterFor(state).Topology.Options.Consistency.CommitTimeout is not null && context.Database.AutoTransactionBehavior == Microsoft.EntityFrameworkCore.AutoTransactionBehavior.WhenNeeded)
            {
                state.RestoreAutoTransaction = context.Database.AutoTransactionBehavior;
                context.Database.AutoTransactionBehavior = Microsoft.EntityFrameworkCore.AutoTransactionBehavior.Always;
            }
        }
    }

    private static void RestoreAutoTransaction(Microsoft.EntityFrameworkCore.DbContext context, RoutingContextState state)
    {
        if (state.RestoreAutoTransaction is { } behavior)
        {
            state.RestoreAutoTransaction = null;
            context.Database.AutoTransactionBehavior = behavior;
        }
    }

    private void End(DbContextEventData eventData)
    {
        if (eventData.Context is { } context)
        {
            // Changes are saved and accepted: now an unconfirmed commit may be reported without inviting a repeat.
            var state = EfRoutingCore.State(context);
            state.InSaveChanges = false;
            state.WriteInFlight = false;
            state.WriteCompletedInAttempt = true;
            RestoreAutoTransaction(context, state);
            core.ReportUnconfirmedCommit(context, deferInsideSaveChanges: false);
        }
    }

    private static void Failed(DbContextEventData eventData)
    {
        if (eventData.Context is { } context)
        {
            var state = EfRoutingCore.State(context);
            state.InSaveChanges = false;
            RestoreAutoTransaction(context, state);
        }
    }
}
