using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// A transaction never starts on a replica connection (BeginTransaction opens the connection before this fires);
/// a commit waits for the synchronous replicas at most the opt-in commit timeout; an unconfirmed commit is reported.
/// </summary>
internal sealed class RoutingTransactionInterceptor(EfRoutingCore core) : DbTransactionInterceptor
{
    public override InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "A transaction");
        core.EnsureSameCluster(eventData.Context, mayWrite: true);
        return result;
    }

    public override ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "A transaction");
        core.EnsureSameCluster(eventData.Context, mayWrite: true);
        return ValueTask.FromResult(result);
    }

    public override DbTransaction TransactionUsed(DbConnection connection, TransactionEventData eventData, DbTransaction result)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "UseTransaction");
        core.EnsureSameCluster(eventData.Context, mayWrite: true);
        return result;
    }

    public override ValueTask<DbTransaction> TransactionUsedAsync(
        DbConnection connection, TransactionEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "UseTransaction");
        core.EnsureSameCluster(eventData.Context, mayWrite: true);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult TransactionCommitting(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result)
    {
        if (core.CommitTimeout(eventData.Context) is not { } timeout || transaction is not NpgsqlTransaction npgsql)
        {
            return result;
        }

        CommitTimeout.CommitAsync(npgsql, timeout, CancellationToken.None).GetAwaiter().GetResult();
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);
        return InterceptionResult.Suppress();
    }

    public override async ValueTask<InterceptionResult> TransactionCommittingAsync(
        DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
    {
        if (core.CommitTimeout(eventData.Context) is not { } timeout || transaction is not NpgsqlTransaction npgsql)
        {
            return result;
        }

        await CommitTimeout.CommitAsync(npgsql, timeout, cancellationToken).ConfigureAwait(false);
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);
        return InterceptionResult.Suppress();
    }

    public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) =>
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        core.ReportUnconfirmedCommit(eventData.Context, deferInsideSaveChanges: true);
        return Task.CompletedTask;
    }
}
