using Npgsql;
using RoutingSdk.Routing;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>Consistency.CommitTimeout: a COMMIT's wait for the synchronous replicas bounded, its outcome reported.</summary>
internal static class CommitTimeout
{
    /// <summary>
    /// Cancelling a COMMIT that waits for synchronous replication does not undo it: PostgreSQL returns success with
    /// the "canceling wait for synchronous replication" notice, which turns the endless wait into a clear outcome.
    /// </summary>
    public static async Task CommitAsync(NpgsqlTransaction transaction, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await transaction.CommitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RoutingException(
                $"The commit did not finish within Consistency.CommitTimeout ({timeout}) and PostgreSQL did not confirm it; its outcome is unknown. " +
                "Check the primary before repeating the write.");
        }
    }

    /// <summary>
    /// With <see cref="ConsistencyOptions.CommitTimeout"/> set, an autocommit write (ExecuteUpdate/Delete, ExecuteSql)
    /// runs in a transaction of its own so that the timeout bounds the COMMIT's wait for the synchronous replicas,
    /// not the statement: a long UPDATE is not cut short. Npgsql sends BEGIN with the statement (no extra round trip);
    /// the COMMIT is one.
    /// </summary>
    public static void BeginOwnTransaction(System.Data.Common.DbCommand command, RoutingContextState state, QueryRouter router, Microsoft.EntityFrameworkCore.Diagnostics.CommandSource source)
    {
        if (command.Transaction is not null || !EfRoutingCore.IsWrite(source)
            || router.Topology.Options.Consistency.CommitTimeout is null || System.Transactions.Transaction.Current is not null
            || command.Connection is not Npgsql.NpgsqlConnection { State: System.Data.ConnectionState.Open } connection)
        {
            return;
        }

        var transaction = connection.BeginTransaction();
        command.Transaction = transaction;
        state.CommitTimeoutTransaction = transaction;
    }

    /// <summary>Commits the transaction <see cref="BeginOwnTransaction"/> began, within the timeout, once the write returned.</summary>
    public static async Task CommitOwnTransactionAsync(RoutingContextState state, QueryRouter router, bool async, CancellationToken cancellationToken)
    {
        if (state.CommitTimeoutTransaction is { } transaction)
        {
            state.CommitTimeoutTransaction = null;
            try
            {
                var timeout = router.Topology.Options.Consistency.CommitTimeout!.Value;
                if (async)
                {
                    await CommitAsync(transaction, timeout, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    CommitAsync(transaction, timeout, cancellationToken).GetAwaiter().GetResult();
                }
            }
            finally
            {
                if (async)
                {
                    await transaction.DisposeAsync().ConfigureAwait(false);
                }
                else
                {
                    transaction.Dispose();
                }
            }
        }

    }

    /// <summary>A failed or cancelled command rolls back its commit-timeout transaction: the next write must not run inside it.</summary>
    public static void RollbackOwnTransaction(RoutingContextState? state)
    {
        if (state is not { CommitTimeoutTransaction: { } transaction })
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
}
