using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>A transaction never starts on a replica connection (BeginTransaction opens the connection before this fires).</summary>
internal sealed class RoutingTransactionInterceptor : DbTransactionInterceptor
{
    public override InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "A transaction");
        return result;
    }

    public override ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "A transaction");
        return ValueTask.FromResult(result);
    }

    public override DbTransaction TransactionUsed(DbConnection connection, TransactionEventData eventData, DbTransaction result)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "UseTransaction");
        return result;
    }

    public override ValueTask<DbTransaction> TransactionUsedAsync(
        DbConnection connection, TransactionEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        EfRoutingCore.EnsureNotOnReplica(eventData.Context, "UseTransaction");
        return ValueTask.FromResult(result);
    }
}
