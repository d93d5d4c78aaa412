namespace RoutingSdk;

/// <summary>What happens when the primary reports that a commit was not confirmed by the synchronous replicas.</summary>
public enum UnconfirmedCommitBehavior
{
    /// <summary>Throw <see cref="SynchronousReplicationNotConfirmedException"/> from the commit (default).</summary>
    Throw,

    /// <summary>Report it to <see cref="IRouteDecisionObserver.OnUnconfirmedCommit"/>, the log and the <c>routing.commits.unconfirmed</c> metric, and carry on.</summary>
    Report,
}

/// <summary>Read-your-writes and the synchronous-commit trap.</summary>
public sealed class ConsistencyOptions
{
    /// <summary>After the operation wrote, an AsyncReplica read waits until the replica replayed that write, else falls back (default <see langword="true"/>).</summary>
    public bool ReadYourWrites { get; set; } = true;

    /// <summary>How long an AsyncReplica read waits for the replica to replay the operation's writes (default 1 s).</summary>
    public TimeSpan ReadYourWritesMaxWait { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>What an unconfirmed synchronous commit does (default <see cref="UnconfirmedCommitBehavior.Throw"/>).</summary>
    public UnconfirmedCommitBehavior OnUnconfirmedCommit { get; set; } = UnconfirmedCommitBehavior.Throw;

    /// <summary>
    /// Opt-in: the longest a commit on the primary may wait for the synchronous replicas. Past it the wait is cancelled:
    /// the transaction stays committed on the primary and the outcome is <see cref="SynchronousReplicationNotConfirmedException"/>
    /// instead of an endless wait. For statements outside an explicit transaction it is the command timeout of writes.
    /// </summary>
    public TimeSpan? CommitTimeout { get; set; }
}
