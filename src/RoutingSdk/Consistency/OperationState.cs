namespace RoutingSdk.Consistency;

/// <summary>Mutable facts of one business operation, shared by its nested scopes.</summary>
internal sealed class OperationState
{
    private long _requiredLsn;
    private int _wroteSinceCapture;
    private int _replicationUnconfirmed;
    private int _timeline;

    /// <summary>The operation wrote (or ran a transaction) since its required LSN was last captured.</summary>
    public bool WroteSinceCapture => Volatile.Read(ref _wroteSinceCapture) != 0;

    /// <summary>The WAL position later reads must see (0: none).</summary>
    public ulong RequiredLsn => (ulong)Interlocked.Read(ref _requiredLsn);

    /// <summary>A commit of this operation was not confirmed by the synchronous replicas: its reads stay on the primary.</summary>
    public bool ReplicationUnconfirmed => Volatile.Read(ref _replicationUnconfirmed) != 0;

    /// <summary>The primary's timeline when the required position was taken (0: unknown). An LSN means nothing on another timeline.</summary>
    public int Timeline => Volatile.Read(ref _timeline);

    /// <summary>Records the timeline of a required position; two different ones make the position ambiguous (-1).</summary>
    public void RequireTimeline(int timeline)
    {
        if (timeline <= 0)
        {
            return;
        }

        var current = Interlocked.CompareExchange(ref _timeline, timeline, 0);
        if (current != 0 && current != timeline)
        {
            Volatile.Write(ref _timeline, -1);
        }
    }

    private ClusterBinding? _cluster;
    private string? _tokenCluster;

    /// <summary>The cluster of the causal tokens this operation waits for (several clusters configured), if any.</summary>
    public string? TokenCluster => Volatile.Read(ref _tokenCluster);

    /// <summary>Records the cluster of a causal token; tokens of two clusters cannot both be waited for.</summary>
    public void RequireTokenCluster(string? cluster)
    {
        if (cluster is null)
        {
            return;
        }

        var current = Interlocked.CompareExchange(ref _tokenCluster, cluster, null);
        if (current is not null && !string.Equals(current, cluster, StringComparison.OrdinalIgnoreCase))
        {
            throw new CrossClusterOperationException(
                current, cluster,
                $"The operation waits for causal tokens of two clusters ('{current}' and '{cluster}'): a token orders reads of its own cluster only. "
                + "Wait for the token of the cluster the operation's tenant reads from, one operation per tenant.");
        }
    }

    /// <summary>The cluster binding in force, if a statement of the operation has run (several clusters configured).</summary>
    public ClusterBinding? BoundCluster => Volatile.Read(ref _cluster);

    /// <summary>
    /// Binds the operation to the cluster of its first statement (several clusters configured), and returns the
    /// binding in force: the first one wins.
    /// </summary>
    public ClusterBinding BindCluster(string? tenant, object cluster)
    {
        var current = Volatile.Read(ref _cluster);
        if (current is not null)
        {
            return current;
        }

        var binding = new ClusterBinding(tenant, cluster);
        return Interlocked.CompareExchange(ref _cluster, binding, null) ?? binding;
    }

    public void MarkWrite() => Volatile.Write(ref _wroteSinceCapture, 1);

    public void MarkReplicationUnconfirmed() => Volatile.Write(ref _replicationUnconfirmed, 1);

    /// <summary>Raises the required position (never lowers it).</summary>
    public void Require(ulong lsn)
    {
        long current;
        do
        {
            current = Interlocked.Read(ref _requiredLsn);
            if ((ulong)current >= lsn)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _requiredLsn, (long)lsn, current) != current);
    }

    public void Captured(ulong lsn)
    {
        Volatile.Write(ref _wroteSinceCapture, 0);
        Require(lsn);
    }
}

/// <summary>The tenant and cluster an operation's first statement went to.</summary>
internal sealed record ClusterBinding(string? Tenant, object Cluster);
