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
/// It reports <see cref="RetriesOnFailure"/> only with <see cref="ReadRetryOptions.BufferResults"/> on (or a retrying
/// provider strategy), so by default EF Core streams rows and a read is retried when it fails before its first row:
/// buffering costs every query a copy of its result. A provider strategy configured by the user
/// (<c>EnableRetryOnFailure</c>) still runs around it.
/// </remarks>
internal sealed class RoutingExecutionStrategy(
    IExecutionStrategy inner, ExecutionStrategyDependencies dependencies, EfRoutingCore core, ILogger logger, RoutingContextState ownState)
    : IExecutionStrategy
{
    /// <summary>The routing state of the context an operation runs on: this strategy's own context's without a service lookup.</summary>
    private RoutingContextState StateOf(DbContext context) =>
        ReferenceEquals(context, dependencies.CurrentContext.Context) ? ownState : EfRoutingCore.State(context);

    public bool RetriesOnFailure => inner.RetriesOnFailure || core.Clusters.ForSettings().Router.Topology.Options.ReadRetry is { Enabled: true, BufferResults: true };

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
        var routing = StateOf(context);
        if (routing.StrategyDepth > 0)
        {
            return operation(context, state);
        }

        routing.StrategyDepth++;
        AttemptEngine? engine = null; // made on the first failure: a read that succeeds allocates nothing for it
        try
        {
            while (true)
            {
                BeginAttempt(routing, engine);
                try
                {
                    return operation(context, state);
                }
                catch (Exception ex)
                {
                    var again = RunAgain(context, routing, engine ??= new AttemptEngine(core.RouterFor(routing), logger), ex, async: false, CancellationToken.None);
                    System.Diagnostics.Debug.Assert(again.IsCompleted, "the synchronous path never awaits");
                    if (!again.GetAwaiter().GetResult())
                    {
                        throw;
                    }
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
        var routing = StateOf(context);
        if (routing.StrategyDepth > 0)
        {
            return await operation(context, state, cancellationToken).ConfigureAwait(false);
        }

        routing.StrategyDepth++;
        AttemptEngine? engine = null; // made on the first failure: a read that succeeds allocates nothing for it
        try
        {
            while (true)
            {
                BeginAttempt(routing, engine);
                try
                {
                    return await operation(context, state, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    if (!await RunAgain(context, routing, engine ??= new AttemptEngine(core.RouterFor(routing), logger), ex, async: true, cancellationToken).ConfigureAwait(false))
                    {
                        throw;
                    }
                }
            }
        }
        finally
        {
            routing.StrategyDepth--;
            EndAttempts(routing);
        }
    }

    private static void BeginAttempt(RoutingContextState routing, AttemptEngine? engine)
    {
        routing.RetryAttempt = engine?.ReadRetries ?? 0;
        routing.ExcludePool = engine?.Exclude;
        routing.WroteInAttempt = false;
        routing.WriteInFlight = false;
        routing.WriteCompletedInAttempt = false;
        routing.LastReadPool = null;
        routing.LastOpenedPool = null;
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

    /// <summary>
    /// Collects what the failed attempt knew from the context's routing state and lets the <see cref="AttemptEngine"/>
    /// judge it: returns whether to run the attempt again; throws RoutingSdk's exception where it has one.
    /// </summary>
    private static async ValueTask<bool> RunAgain(DbContext context, RoutingContextState routing, AttemptEngine engine, Exception ex, bool async, CancellationToken cancellationToken)
    {
        if (ex is EfRoutingCore.RerouteToPrimaryException)
        {
            // A .OnPrimary() query met a replica connection before anything was sent: run the attempt on the primary.
            routing.PrimaryRequested = true;
            CloseIfOpen(context);
            return true;
        }

        // The node that failed is the one opened last in this attempt. A failure on the primary (a write, a
        // MasterOnly read) says nothing about the replica that served an earlier read: never evicts it.
        if (routing.LastOpenedPool is not { } pool)
        {
            return false;
        }

        var failed = new FailedAttempt
        {
            Pool = pool,
            Error = ex,
            NothingSent = routing.OpenFailed,
            Aborted = ReferenceEquals(routing.AbortedPool, pool),
            Wrote = routing.WroteInAttempt,
            EffectInFlight = routing.WriteInFlight,
            EffectCompleted = routing.WriteCompletedInAttempt,
            InTransaction = context.Database.CurrentTransaction is not null || System.Transactions.Transaction.Current is not null,
            CommittedLocally = routing.UnconfirmedCommitNotice is not null,
        };
        routing.AbortedPool = null;
        if (!await engine.RunAgainAsync(failed, async, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        // EF Core closed the connection it opened for the failed attempt; make sure before the next open re-routes it.
        if (pool.AcceptTxSession || routing.OpenPool == pool)
        {
            CloseIfOpen(context);
        }

        return true;
    }

    private static void CloseIfOpen(DbContext context)
    {
        // Not one still connecting: its open was abandoned (a lost node) and it is disposed once that open ends.
        if (context.Database.GetDbConnection().State is not (System.Data.ConnectionState.Closed or System.Data.ConnectionState.Connecting))
        {
            context.Database.CloseConnection();
        }
    }
}

/// <summary>Wraps the provider's execution strategy of each context in <see cref="RoutingExecutionStrategy"/>.</summary>
internal sealed class RoutingExecutionStrategyFactory(
    ExecutionStrategyDependencies dependencies, Func<ExecutionStrategyDependencies, IExecutionStrategyFactory> providerFactory, RoutingContextState state)
    : IExecutionStrategyFactory
{
    private readonly IExecutionStrategyFactory _provider = providerFactory(dependencies);

    public IExecutionStrategy Create()
    {
        var core = QueryRoutingOptionsExtension.For(dependencies.CurrentContext.Context);
        return new RoutingExecutionStrategy(_provider.Create(), dependencies, core, core.Logger, state);
    }
}
