namespace RoutingSdk;

/// <summary>What writes do while the primary is failing over.</summary>
public sealed class FailoverOptions
{
    /// <summary>
    /// How long a write (or any primary connection) whose connection cannot be opened, because there is no primary,
    /// waits for a new one before <see cref="PrimaryUnavailableException"/> (default 30 s: Patroni's ttl of 10 s, the
    /// election, and HAProxy's check interval fit in it). Nothing has been sent while it waits.
    /// </summary>
    public TimeSpan PrimaryWaitTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>No primary could be reached within <see cref="FailoverOptions.PrimaryWaitTimeout"/>; the statement was not sent.</summary>
public sealed class PrimaryUnavailableException : RoutingException
{
    internal PrimaryUnavailableException(string clusterState, TimeSpan waited, Exception? inner)
        : base(
            $"No primary is available: {clusterState}. RoutingSdk waited {waited.TotalSeconds:0.#} s (Failover.PrimaryWaitTimeout) for a new one; " +
            "nothing was sent, so the operation can safely be repeated later. Operators: check the cluster (patronictl list, the write VIP's backend).",
            inner)
    {
        ClusterState = clusterState;
    }

    /// <summary>What RoutingSdk knew of the cluster when it gave up.</summary>
    public string ClusterState { get; }
}

/// <summary>
/// The connection to the primary was lost while a write or a commit was in flight (the primary crashed or failed
/// over). The statement may or may not have committed, so RoutingSdk did not repeat it.
/// </summary>
public sealed class PrimaryConnectionLostException : RoutingException
{
    internal PrimaryConnectionLostException(string poolName, Exception inner, bool committedLocally = false)
        : base(
            $"The connection to the primary '{poolName}' was lost while a write was in flight: it may or may not have committed. " +
            (committedLocally
                ? "PostgreSQL said it had committed it locally and was waiting for the synchronous replicas when the connection ended (a shutdown for a switchover or failover): after a planned switchover it is normally on the new primary. "
                : "") +
            "RoutingSdk did not repeat it, because repeating could apply it twice. Check whether it took effect (e.g. look the row up by its key) before repeating it; " +
            "new connections go to the new primary.",
            inner)
    {
        PoolName = poolName;
        CommittedLocally = committedLocally;
    }

    /// <summary>The primary pool whose connection was lost.</summary>
    public string PoolName { get; }

    /// <summary>
    /// PostgreSQL reported (from <c>SyncRepWaitForLSN</c>) that the commit was done locally and only the wait for the
    /// synchronous replicas was cut short: the write exists on the old primary, and on the new one unless WAL was lost.
    /// </summary>
    public bool CommittedLocally { get; }
}
