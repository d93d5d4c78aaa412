using System.Runtime.ExceptionServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using RoutingSdk.EntityFrameworkCore.Interception;
using RoutingSdk.Pools;
using RoutingSdk.Retry;
using RoutingSdk.Routing;

namespace RoutingSdk.EntityFrameworkCore.Retry;

/// <summary>
/// Retries a read that a replica cancelled (recovery conflict) or lost, before any row reached the caller: first on
/// another replica, then on the primary. An attempt that wrote or ran inside a transaction is never retried, and user
/// transactions keep working (unlike EF Core's retrying strategies, nothing is imposed on them).
/// </summary>
/// <remarks>
/// It reports <see cref="RetriesOnFailure"/> when read retry is on, so EF Core buffers each query's rows inside the
/// attempt: a cancellation then never hits a half-read result. A provider strategy configured by the user
/// (<c>EnableRetryOnFailure</c>) still runs around it.
/// </remarks>
internal sealed class RoutingExecutionStrategy(IExecutionStrategy inner, ExecutionStrategyDependencies dependencies, QueryRouter router, ILogger logger)
    : IExecutionStrategy
{
    public bool RetriesOnFailure => inner.RetriesOnFailure || router.Topology.Options.ReadRetry.Enabled;

    public TResult Execute<TState, TResult>(TState state, Func<DbContext, TState, TResult> operation, Func<DbContext, TState, ExecutionResult<TResult>>? verifySucceeded)
    {
        if (!inner.RetriesOnFailure)
        {
            return Run(dependencies.CurrentContext.Context, state, operation);
        }

        return inner.Execute(state, (context, s) => Run(context, s, operation), verifySucceeded);
    }

    public Task<TResult> ExecuteAsync<TState, TResult>(
        TState state, Func<DbContext, TState, CancellationToken, Task<TResult>> operation,
        Func<DbContext, TState, CancellationToken, Task<ExecutionResult<TResult>>>? verifySucceeded, CancellationToken cancellationToken = default)
    {
        if (!inner.RetriesOnFailure)
        {
            return RunAsync(dependencies.CurrentContext.Context, state, operation, cancellationToken);
        }

        return inner.ExecuteAsync(state, (context, s, ct) => RunAsync(context, s, operation, ct), verifySucceeded, cancellationToken);
    }

    private TResult Run<TState, TResult>(DbContext context, TState state, Func<DbContext, TState, TResult> operation)
    {
        var routing = EfRoutingCore.State(context);
        if (routing.StrategyDepth > 0)
        {
            return operation(context, state);
        }

        routing.StrategyDepth++;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                BeginAttempt(routing, attempt);
                try
                {
                    return operation(context, state);
                }
                catch (Exception ex)
                {
                    var failedPrimary = HandleFailure(context, routing, attempt, ex);
                    if (failedPrimary is not null)
                    {
                        WaitForPrimary(routing, failedPrimary, ex, async: false, CancellationToken.None).GetAwaiter().GetResult();
                    }

                    // Neither is a read retry (those escalate to the primary): bounded by PrimaryWaitTimeout instead.
                    attempt -= ex is EfRoutingCore.RerouteToPrimaryException || failedPrimary is not null ? 1 : 0;
                }
            }
        }
        finally
        {
            routing.StrategyDepth--;
            EndAttempts(routing);
        }
    }

    private async Task<TResult> RunAsync<TState, TResult>(
        DbContext context, TState state, Func<DbContext, TState, CancellationToken, Task<TResult>> operation, CancellationToken cancellationToken)
    {
        var routing = EfRoutingCore.State(context);
        if (routing.StrategyDepth > 0)
        {
            return await operation(context, state, cancellationToken).ConfigureAwait(false);
        }

        routing.StrategyDepth++;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                BeginAttempt(routing, attempt);
                try
                {
                    return await operation(context, state, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    var failedPrimary = HandleFailure(context, routing, attempt, ex);
                    if (failedPrimary is not null)
                    {
                        await WaitForPrimary(routing, failedPrimary, ex, async: true, cancellationToken).ConfigureAwait(false);
                    }

                    // Neither is a read retry (those escalate to the primary): bounded by PrimaryWaitTimeout instead.
                    attempt -= ex is EfRoutingCore.RerouteToPrimaryException || failedPrimary is not null ? 1 : 0;
                }
            }
        }
        finally
        {
            routing.StrategyDepth--;
            EndAttempts(routing);
        }
    }

    private static void BeginAttempt(RoutingContextState routing, int attempt)
    {
        routing.RetryAttempt = attempt;
        routing.WroteInAttempt = false;
        routing.WriteInFlight = false;
        routing.WriteCompletedInAttempt = false;
        routing.LastReadPool = null;
        routing.LastOpenedPool = null;
        if (attempt == 0)
        {
            routing.ExcludePool = null;
        }
    }

    private static void EndAttempts(RoutingContextState routing)
    {
        routing.RetryAttempt = 0;
        routing.ExcludePool = null;
        routing.LastReadPool = null;
        routing.LastOpenedPool = null;
        routing.PrimaryRequested = false;
        routing.PrimaryWaitDeadline = 0;
        routing.WriteInFlight = false;
        routing.WriteCompletedInAttempt = false;

        // Nothing of a finished operation may leak into the next one on this context: a commit notice that belonged
        // to a failed attempt was reported with its failure, and a CommitTimeout transaction of a cancelled command
        // must not wrap the next write.
        routing.UnconfirmedCommitNotice = null;
        if (routing.CommitTimeoutTransaction is { } transaction)
        {
            routing.CommitTimeoutTransaction = null;
            transaction.Dispose();
        }
    }

    /// <summary>Waits for a primary after <paramref name="failed"/> failed; throws <see cref="PrimaryUnavailableException"/> past the bound.</summary>
    private ValueTask WaitForPrimary(RoutingContextState routing, RoutingPool failed, Exception ex, bool async, CancellationToken cancellationToken)
    {
        if (routing.PrimaryWaitDeadline == 0)
        {
            routing.PrimaryWaitDeadline = router.PrimaryWaitDeadline();
        }

        return router.WaitForPrimaryAfterFailure(failed, ex, routing.PrimaryWaitDeadline, async, cancellationToken);
    }

    /// <summary>
    /// Returns to retry (with the primary pool to wait for when the primary failed); throws (the original error,
    /// <see cref="ReplicaReadCancelledException"/>, <see cref="WriteOnReplicaException"/> or
    /// <see cref="PrimaryConnectionLostException"/>) otherwise.
    /// </summary>
    private RoutingPool? HandleFailure(DbContext context, RoutingContextState routing, int attempt, Exception ex)
    {
        if (ex is EfRoutingCore.RerouteToPrimaryException)
        {
            // A .OnPrimary() query met a replica connection before anything was sent: run the attempt on the primary.
            routing.PrimaryRequested = true;
            CloseIfOpen(context);
            return null;
        }

        // The node that failed is the one opened last in this attempt. A failure on the primary (a write, a
        // MasterOnly read) says nothing about the replica that served an earlier read: never evicts it.
        var pool = routing.LastOpenedPool;
        if (pool is null)
        {
            ExceptionDispatchInfo.Throw(ex);
        }

        var nodeLost = ReferenceEquals(routing.AbortedPool, pool) || NodeWatch.IsLostNodeFailure(pool, ex);
        routing.AbortedPool = null;

        if (pool.AcceptTxSession)
        {
            var failedPrimary = HandlePrimaryFailure(context, routing, pool, ex, nodeLost);
            CloseIfOpen(context);
            return failedPrimary;
        }

        var mayRetry = !routing.WroteInAttempt && context.Database.CurrentTransaction is null && System.Transactions.Transaction.Current is null;
        if (!mayRetry)
        {
            if (ReadFailure.Classify(ex, out var postgres) == ReadFailureKind.WriteOnReplica)
            {
                throw new WriteOnReplicaException(pool.Name, postgres!);
            }

            ExceptionDispatchInfo.Throw(ex);
        }

        if (!ReadRetryPolicy.ShouldRetry(ex, pool, attempt, router.Topology.Options.ReadRetry, router.Metrics, logger, nodeLost))
        {
            ExceptionDispatchInfo.Throw(ex);
        }

        // EF Core closed the connection it opened for the failed attempt; make sure before the next open re-routes it.
        if (routing.OpenPool == pool)
        {
            CloseIfOpen(context);
        }

        routing.ExcludePool = pool;
        return null;
    }

    /// <summary>
    /// A failure on the primary during a failover. Safe to run again after waiting for a primary only when nothing
    /// this attempt sent can have taken effect: the connection never opened, the node refused the write as read-only
    /// (a demoted primary, SQLSTATE 25006), or the statement that died was a read. A write that was in flight when the
    /// connection died may have committed: never replayed, reported as <see cref="PrimaryConnectionLostException"/>.
    /// </summary>
    private RoutingPool HandlePrimaryFailure(DbContext context, RoutingContextState routing, RoutingPool pool, Exception ex, bool nodeLost)
    {
        var kind = ReadFailure.Classify(ex, out var postgres);
        var userTransaction = context.Database.CurrentTransaction is not null || System.Transactions.Transaction.Current is not null;
        var connectTimeout = routing.OpenFailed && ex is Npgsql.NpgsqlException { InnerException: TimeoutException } && !ReadFailure.IsPoolExhausted(ex);
        var nodeGone = kind == ReadFailureKind.ReplicaGone || connectTimeout || nodeLost;

        // The server answered the statement itself with "terminating connection" (a shutdown for a switchover or
        // failover): the statement was cut short and rolled back — unless the commit had already happened locally and
        // was only waiting for the synchronous replicas (PostgreSQL then warns from SyncRepWaitForLSN first).
        var terminatedBeforeCommit = postgres is { SqlState: Npgsql.PostgresErrorCodes.AdminShutdown or Npgsql.PostgresErrorCodes.CrashShutdown }
            && routing.UnconfirmedCommitNotice is null;

        // 25006 from the primary: a demotion (it became a standby) is waited out; a primary made read-only on purpose
        // (default_transaction_read_only for maintenance) is not — waiting 30 s, evicting it and reconnecting every
        // 250 ms would help nobody. Ask the node before acting.
        if (kind == ReadFailureKind.WriteOnReplica && router.Primary.ConfirmNotDemoted(pool) is { } readOnly)
        {
            throw new RoutingException(readOnly, ex);
        }

        if (!userTransaction && !routing.WriteCompletedInAttempt
            && ((routing.OpenFailed && nodeGone) || kind == ReadFailureKind.WriteOnReplica || (nodeGone && (!routing.WriteInFlight || terminatedBeforeCommit))))
        {
            routing.WriteInFlight = false;
            return pool;
        }

        if (nodeGone && (routing.WriteInFlight || routing.WriteCompletedInAttempt))
        {
            router.PrimaryFailed(pool, ex.Message);
            var committedLocally = routing.UnconfirmedCommitNotice is not null;
            routing.UnconfirmedCommitNotice = null; // reported here, never again on the context's next success
            throw new PrimaryConnectionLostException(pool.Name, ex, committedLocally);
        }

        ExceptionDispatchInfo.Throw(ex);
        return pool;
    }

    private static void CloseIfOpen(DbContext context)
    {
        if (context.Database.GetDbConnection().State != System.Data.ConnectionState.Closed)
        {
            context.Database.CloseConnection();
        }
    }
}

/// <summary>Wraps the provider's execution strategy of each context in <see cref="RoutingExecutionStrategy"/>.</summary>
internal sealed class RoutingExecutionStrategyFactory(
    ExecutionStrategyDependencies dependencies, Func<ExecutionStrategyDependencies, IExecutionStrategyFactory> providerFactory) : IExecutionStrategyFactory
{
    private readonly IExecutionStrategyFactory _provider = providerFactory(dependencies);

    public IExecutionStrategy Create()
    {
        var core = QueryRoutingOptionsExtension.For(dependencies.CurrentContext.Context);
        return new RoutingExecutionStrategy(_provider.Create(), dependencies, core.Router, core.Logger);
    }
}
