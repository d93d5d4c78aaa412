using Npgsql;

namespace RoutingSdk;

/// <summary>
/// A read on a replica was cancelled by PostgreSQL to keep the replica up to date (a WAL-replay conflict) and could
/// not be retried. <see cref="Exception.Message"/> is written for the end user; <see cref="OperatorDetail"/> for the operator.
/// </summary>
public sealed class ReplicaReadCancelledException : RoutingException
{
    /// <summary>The message shown to users.</summary>
    public const string UserMessage =
        "The operation was stopped automatically: the database replica serving it had to cancel the read to keep itself up to date with the master. " +
        "This is expected and not a failure of the system. Please repeat the operation later.";

    internal ReplicaReadCancelledException(string poolName, PostgresException inner, string why)
        : base(UserMessage, inner)
    {
        PoolName = poolName;
        OperatorDetail =
            $"Read on pool '{poolName}' cancelled by recovery conflict (SQLSTATE {inner.SqlState}: {inner.MessageText}); {why}. " +
            "The replica cancels reads that block WAL replay longer than max_standby_streaming_delay. Options: raise max_standby_streaming_delay " +
            "(COMMITs on the master wait that long too under remote_apply), keep hot_standby_feedback = on (fewer VACUUM conflicts, some bloat), " +
            "or run long reports on the master ([MasterOnly], or an override Categories.Report.Route = MasterOnly).";
    }

    /// <summary>The pool whose replica cancelled the read.</summary>
    public string PoolName { get; }

    /// <summary>What happened and what the operator can change.</summary>
    public string OperatorDetail { get; }

    /// <summary>The PostgreSQL error.</summary>
    public PostgresException PostgresError => (PostgresException)InnerException!;
}

/// <summary>
/// A commit returned on the primary without the synchronous replicas confirming it (PostgreSQL's WARNING
/// "canceling wait for synchronous replication"): the data is committed on the primary but may not be on the replicas.
/// The rest of the operation's reads stay on the primary.
/// </summary>
public sealed class SynchronousReplicationNotConfirmedException : RoutingException
{
    internal SynchronousReplicationNotConfirmedException(string poolName, string notice)
        : base(
            $"The commit on '{poolName}' is durable on the primary but was NOT confirmed by the synchronous replicas ({notice}). " +
            "Do not repeat the write: it is committed. Reads of this operation stay on the primary. Operators: a synchronous replica is down or " +
            "stuck; see docs/operations.md, 'The sync-commit trap' (restore the replica, or list only the healthy replicas in synchronous_standby_names, e.g. 'ANY 1 (sync1)').")
    {
        PoolName = poolName;
        Notice = notice;
    }

    /// <summary>The pool (primary) that reported it.</summary>
    public string PoolName { get; }

    /// <summary>PostgreSQL's notice text.</summary>
    public string Notice { get; }
}

/// <summary>A commit that the synchronous replicas did not confirm; given to <see cref="IRouteDecisionObserver.OnUnconfirmedCommit"/>.</summary>
public readonly record struct UnconfirmedCommit(string PoolName, string Notice, string? Scenario);
