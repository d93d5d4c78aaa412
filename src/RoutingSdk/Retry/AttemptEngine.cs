using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Retry;

/// <summary>
/// What an attempt knew when it failed. Each caller (the EF Core execution strategy, <see cref="RoutingDataSource"/>)
/// collects these facts its own way; <see cref="AttemptEngine"/> judges them in one place.
/// </summary>
internal readonly record struct FailedAttempt
{
    /// <summary>The node the attempt failed on (the connection opened last).</summary>
    public required RoutingPool Pool { get; init; }

    public required Exception Error { get; init; }

    /// <summary>The connection never opened: nothing was sent.</summary>
    public bool NothingSent { get; init; }

    /// <summary>The connection was aborted (or its open abandoned) because the health monitor found the node unreachable.</summary>
    public bool Aborted { get; init; }

    /// <summary>
    /// The attempt wrote, opened a transaction, or bound a connection whose statements may take effect: it is never run
    /// again as a read.
    /// </summary>
    public bool Wrote { get; init; }

    /// <summary>
    /// A statement that may take effect was running when the connection failed: a write, or any statement on a
    /// connection bound to the primary as a non-read (<see cref="RouteDecision.MayHaveEffect"/>).
    /// </summary>
    public bool EffectInFlight { get; init; }

    /// <summary>Such a statement completed earlier in the attempt: running the attempt again would repeat it.</summary>
    public bool EffectCompleted { get; init; }

    /// <summary>The attempt runs inside a user transaction (EF Core's, ADO.NET's or a <c>TransactionScope</c>).</summary>
    public bool InTransaction { get; init; }

    /// <summary>PostgreSQL said the commit happened locally and only the wait for the synchronous replicas was cut.</summary>
    public bool CommittedLocally { get; init; }
}

/// <summary>
/// The one place a failed attempt is judged and the next one prepared — used by the EF Core execution strategy and by
/// <see cref="RoutingDataSource"/> (its opens and <see cref="RoutingDataSource.ReadAsync{T}"/>), each of which only
/// runs the attempt and collects <see cref="FailedAttempt"/>. An attempt runs again only when nothing it sent can
/// have taken effect: a read on a replica moves to another node (<see cref="ReadRetryPolicy"/>); a primary attempt
/// that provably did nothing waits for a primary (bounded by <c>Failover.PrimaryWaitTimeout</c>); a write whose
/// outcome is unknown becomes <see cref="PrimaryConnectionLostException"/> (<c>CommittedLocally</c> when PostgreSQL
/// said so), never a second run.
/// </summary>
/// <remarks>One instance per operation (all its attempts); not thread-safe.</remarks>
internal sealed class AttemptEngine(QueryRouter router, ILogger logger)
{
    private long _primaryDeadline;

    /// <summary>Read retries so far (a wait for the primary is not one).</summary>
    public int ReadRetries { get; private set; }

    /// <summary>The node the next attempt must avoid: the replica a read just failed on.</summary>
    public RoutingPool? Exclude { get; private set; }

    /// <summary>
    /// Judges <paramref name="failed"/>. Returns <see langword="true"/> when the caller runs the attempt again (after
    /// waiting here for a primary when the primary failed); <see langword="false"/> when the original error must
    /// propagate unchanged; throws RoutingSdk's exception when it has something to add (a write on a replica, a
    /// cancelled read out of retries, a lost primary connection, a primary read-only on purpose, no primary in time).
    /// </summary>
    public async ValueTask<bool> RunAgainAsync(FailedAttempt failed, bool async, CancellationToken cancellationToken)
    {
        switch (Judge(failed))
        {
            case Verdict.AnotherNode:
                ReadRetries++;
                Exclude = failed.Pool;
                return true;
            case Verdict.AfterPrimary:
                _primaryDeadline = _primaryDeadline == 0 ? router.PrimaryWaitDeadline() : _primaryDeadline;
                await router.WaitForPrimaryAfterFailure(failed.Pool, failed.Error, _primaryDeadline, async, cancellationToken).ConfigureAwait(false);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Judges a failure that came after rows of a streamed result had reached the caller (EF Core results are not
    /// buffered by default): such an attempt is never run again, since the caller holds part of the answer. Returns
    /// RoutingSdk's exception where it has something to say, else <see langword="null"/> (the original error stands): a
    /// replica read cancelled by a recovery conflict (<see cref="ReadRetryPolicy.AfterRowsHandedOver"/>), or a primary
    /// connection lost under a statement that may have taken effect (a posting function's <c>SELECT</c> under
    /// <c>[MasterOnly]</c> or <c>.OnPrimary()</c>) — <see cref="PrimaryConnectionLostException"/>, as when the same
    /// failure comes before the first row.
    /// </summary>
    public static Exception? AfterRowsHandedOver(in FailedAttempt failed, QueryRouter router, ILogger logger)
    {
        var pool = failed.Pool;
        if (!pool.AcceptTxSession)
        {
            return ReadRetryPolicy.AfterRowsHandedOver(failed.Error, pool, router.Metrics, logger, router.Topology.Options.ReadRetry);
        }

        var kind = ReadFailure.Classify(failed.Error, out var postgres);
        var nodeGone = failed.Aborted || NodeWatch.IsLostNodeFailure(pool, failed.Error) || kind == ReadFailureKind.ReplicaGone;
        var terminatedBeforeCommit = postgres is { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown } && !failed.CommittedLocally;
        if (nodeGone && (failed.EffectInFlight || failed.EffectCompleted) && !terminatedBeforeCommit)
        {
            router.PrimaryFailed(pool, failed.Error.Message);
            return new PrimaryConnectionLostException(pool.Name, failed.Error, failed.CommittedLocally);
        }

        return null;
    }

    private enum Verdict
    {
        Propagate,
        AnotherNode,
        AfterPrimary,
    }

    private Verdict Judge(in FailedAttempt failed)
    {
        var pool = failed.Pool;
        var error = failed.Error;
        var nodeLost = failed.Aborted || NodeWatch.IsLostNodeFailure(pool, error);
        var kind = ReadFailure.Classify(error, out var postgres);
        if (!pool.AcceptTxSession)
        {
            if (failed.Wrote || failed.EffectInFlight || failed.EffectCompleted || failed.InTransaction)
            {
                return kind == ReadFailureKind.WriteOnReplica ? throw new WriteOnReplicaException(pool.Name, postgres!) : Verdict.Propagate;
            }

            return ReadRetryPolicy.ShouldRetry(error, pool, ReadRetries, router.Topology.Options.ReadRetry, router.Metrics, logger, nodeLost)
                ? Verdict.AnotherNode
                : Verdict.Propagate;
        }

        // The primary. A connect that timed out is a node that does not answer — unless the pool was only full.
        var connectTimeout = failed.NothingSent && error is NpgsqlException { InnerException: TimeoutException } && !ReadFailure.IsPoolExhausted(error);
        var nodeGone = kind == ReadFailureKind.ReplicaGone || connectTimeout || nodeLost;

        // The server answered the statement itself with "terminating connection" (a shutdown for a switchover or a
        // failover): the statement was cut short and rolled back — unless the commit had already happened locally and
        // was only waiting for the synchronous replicas (PostgreSQL then warns from SyncRepWaitForLSN first).
        var terminatedBeforeCommit = postgres is { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown } && !failed.CommittedLocally;

        // 25006 from the primary: a demotion (it became a standby) is waited out; a primary made read-only on purpose
        // (default_transaction_read_only for maintenance) is not — waiting, evicting it and reconnecting every 250 ms
        // would help nobody. Ask the node before acting.
        if (kind == ReadFailureKind.WriteOnReplica && router.Primary.ConfirmNotDemoted(pool) is { } readOnly)
        {
            throw new RoutingException(readOnly, error);
        }

        if (!failed.InTransaction && !failed.EffectCompleted
            && ((failed.NothingSent && nodeGone) || kind == ReadFailureKind.WriteOnReplica || (nodeGone && (!failed.EffectInFlight || terminatedBeforeCommit))))
        {
            return Verdict.AfterPrimary;
        }

        if (nodeGone && (failed.EffectInFlight || failed.EffectCompleted))
        {
            router.PrimaryFailed(pool, error.Message);
            throw new PrimaryConnectionLostException(pool.Name, error, failed.CommittedLocally);
        }

        return Verdict.Propagate;
    }
}
