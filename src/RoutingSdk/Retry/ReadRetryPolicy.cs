using Microsoft.Extensions.Logging;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;

namespace RoutingSdk.Retry;

/// <summary>
/// What a failed read on a replica becomes — shared by the EF Core execution strategy and <see cref="RoutingDataSource.ReadAsync{T}"/>.
/// Callers decide first whether the read may be retried at all (no write, no transaction, a replica pool).
/// </summary>
internal static partial class ReadRetryPolicy
{
    /// <summary>
    /// Returns <see langword="true"/> to retry on another node; <see langword="false"/> when the original error must
    /// propagate; throws <see cref="ReplicaReadCancelledException"/> for a recovery conflict that cannot be retried.
    /// A dying replica is evicted either way. <c>nodeLost</c>: the connection was aborted because the health monitor
    /// found its node unreachable (<see cref="NodeWatch"/>), whatever the exception Npgsql raised for it.
    /// </summary>
    public static bool ShouldRetry(Exception exception, RoutingPool pool, int attempt, ReadRetryOptions options, RoutingMetrics metrics, ILogger logger, bool nodeLost = false)
    {
        var kind = ReadFailure.Classify(exception, out var postgres);
        if (nodeLost && kind == ReadFailureKind.None)
        {
            kind = ReadFailureKind.ReplicaGone;
        }

        if (kind == ReadFailureKind.None)
        {
            return false;
        }

        if (kind == ReadFailureKind.WriteOnReplica)
        {
            // Never re-run: the statement may write. Say which query to move and how.
            var write = new WriteOnReplicaException(pool.Name, postgres!);
            WriteOnReplica(logger, pool.DisplayName, postgres!.MessageText);
            throw write;
        }

        if (kind == ReadFailureKind.ReplicaGone && pool.Health.EvictAfterFailedAttempt($"read failed: {exception.Message}"))
        {
            metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
            Evicted(logger, pool.DisplayName, exception.Message);
        }

        if (!options.Enabled || attempt >= options.MaxRetries)
        {
            if (kind != ReadFailureKind.RecoveryConflict)
            {
                return false;
            }

            var why = options.Enabled
                ? $"{attempt} retr{(attempt == 1 ? "y" : "ies")} exhausted (ReadRetry.MaxRetries = {options.MaxRetries})"
                : "read retry is disabled (ReadRetry.Enabled = false)";
            var cancelled = new ReplicaReadCancelledException(pool.Name, postgres!, why);
            Cancelled(logger, cancelled.OperatorDetail);
            throw cancelled;
        }

        metrics.Retries.Add(1, new KeyValuePair<string, object?>("pool", pool.Name), new KeyValuePair<string, object?>("kind", kind.ToString()));
        Retrying(logger, pool.DisplayName, kind, attempt + 1, exception.Message);
        return true;
    }

    /// <summary>
    /// What a replica read that failed after some of its rows reached the caller becomes (a streamed EF Core result,
    /// <see cref="ReadRetryOptions.BufferResults"/> off): never retried, since the caller holds part of the answer. A
    /// recovery conflict becomes <see cref="ReplicaReadCancelledException"/>; a dying replica is evicted and its error
    /// stays (returns <see langword="null"/>).
    /// </summary>
    public static Exception? AfterRowsHandedOver(Exception exception, RoutingPool pool, RoutingMetrics metrics, ILogger logger, ReadRetryOptions options)
    {
        switch (ReadFailure.Classify(exception, out var postgres))
        {
            case ReadFailureKind.RecoveryConflict:
                var cancelled = new ReplicaReadCancelledException(pool.Name, postgres!, options.Enabled
                    ? "rows of the result had already been handed to the caller, so it could not be run again (ReadRetry.BufferResults = true buffers EF Core results so that such reads are retried)"
                    : "rows of the result had already been handed to the caller, and read retry is disabled (ReadRetry.Enabled = false)");
                Cancelled(logger, cancelled.OperatorDetail);
                return cancelled;
            case ReadFailureKind.ReplicaGone when pool.Health.EvictAfterFailedAttempt($"read failed: {exception.Message}"):
                metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", pool.Name));
                Evicted(logger, pool.DisplayName, exception.Message);
                return null;
            default:
                return null;
        }
    }

    [LoggerMessage(50, LogLevel.Warning, "Read on {Pool} failed ({Kind}); retry {Attempt} on another node. {Error}")]
    private static partial void Retrying(ILogger logger, string pool, ReadFailureKind kind, int attempt, string error);

    [LoggerMessage(51, LogLevel.Warning, "Pool {Pool} evicted after a failed read: {Error}")]
    private static partial void Evicted(ILogger logger, string pool, string error);

    [LoggerMessage(53, LogLevel.Error, "A read on {Pool} tried to write ({Error}); not repeated. Mark the query .OnPrimary() or run it under [MasterOnly].")]
    private static partial void WriteOnReplica(ILogger logger, string pool, string error);

    [LoggerMessage(52, LogLevel.Error, "{Detail}")]
    private static partial void Cancelled(ILogger logger, string detail);
}
