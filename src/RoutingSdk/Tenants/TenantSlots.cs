namespace RoutingSdk.Tenants;

/// <summary>
/// One tenant on one cluster: how many RoutingSdk connections it holds open (and how many of them may write), the
/// per-tenant limit (<see cref="TenantOptions.MaxConnectionsPerTenant"/>), and counters for the operations page.
/// </summary>
internal sealed class TenantSlots(string tenant, RoutingCluster cluster)
{
    private readonly object _lock = new();
    private readonly Queue<TaskCompletionSource> _waiters = new();
    private int _open;
    private int _openMayWrite;
    private long _connections;
    private long _rejected;
    private TaskCompletionSource _writesDrained = Completed();
    private bool _retired;

    public string Tenant { get; } = tenant;

    public RoutingCluster Cluster { get; } = cluster;

    /// <summary>Connections open now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Connections open now that may write (the primary for a write, a transaction or a user-opened connection).</summary>
    public int OpenMayWrite => Volatile.Read(ref _openMayWrite);

    /// <summary>
    /// Retires the entry if nothing is open and nobody waits: from then on it hands out no slot (the caller looks the
    /// tenant up again and gets a new entry), so no connection is ever counted on an entry the cluster forgot.
    /// </summary>
    public bool TryRetire()
    {
        lock (_lock)
        {
            _retired |= _open == 0 && _waiters.Count == 0;
            return _retired;
        }
    }

    /// <summary>Connections opened since start.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Connections refused by the limit since start.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Completes when no connection of this tenant that may write is open (a freeze waits for it).</summary>
    public Task WritesDrained
    {
        get
        {
            lock (_lock)
            {
                return _writesDrained.Task;
            }
        }
    }

    /// <summary>
    /// Takes a connection slot, waiting (bounded) when the tenant holds <paramref name="limit"/> already. Returns the
    /// lease to give back when the connection closes; <see langword="null"/> when the entry was retired (look the
    /// tenant up again).
    /// </summary>
    public async ValueTask<TenantLease?> AcquireAsync(int limit, TimeSpan wait, bool mayWrite, bool async, CancellationToken cancellationToken)
    {
        TaskCompletionSource? waiter = null;
        lock (_lock)
        {
            if (_retired)
            {
                return null;
            }

            if (limit <= 0 || _open < limit)
            {
                return Take(mayWrite);
            }

            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter);
        }

        var deadline = wait;
        try
        {
            if (async)
            {
                await waiter.Task.WaitAsync(deadline, cancellationToken).ConfigureAwait(false);
            }
            else if (!waiter.Task.Wait(deadline, cancellationToken))
            {
                throw new TimeoutException();
            }
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            lock (_lock)
            {
                if (waiter.TrySetCanceled())
                {
                    if (ex is OperationCanceledException)
                    {
                        throw;
                    }

                    Interlocked.Increment(ref _rejected);
                    throw new TenantLimitExceededException(
                        Tenant, Cluster.Name ?? "(default)",
                        $"Tenant '{Tenant}' already holds {limit} connections on {Cluster.DisplayName} (Tenants.MaxConnectionsPerTenant) and none was returned within "
                        + $"Tenants.LimitWaitTimeout ({wait}). Nothing was sent. The tenant runs more concurrent work than its share: spread it out, or raise the limit.");
                }
            }

            // Handed a slot just as the wait ended: keep it unless the caller gave up, then pass it on.
            if (ex is OperationCanceledException)
            {
                Release(mayWrite: false);
                throw;
            }
        }

        // The slot was handed over by Release (the count already includes it).
        lock (_lock)
        {
            return Handed(mayWrite);
        }
    }

    /// <summary>
    /// Counts a connection that is open already (opened by the caller): never waits, even past the limit.
    /// <see langword="null"/> when the entry was retired (look the tenant up again).
    /// </summary>
    public TenantLease? Count(bool mayWrite)
    {
        lock (_lock)
        {
            return _retired ? null : Take(mayWrite);
        }
    }

    private TenantLease Take(bool mayWrite)
    {
        _open++;
        return Handed(mayWrite);
    }

    private TenantLease Handed(bool mayWrite)
    {
        Interlocked.Increment(ref _connections);
        if (mayWrite)
        {
            if (_openMayWrite++ == 0)
            {
                _writesDrained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        return new TenantLease(this, mayWrite);
    }

    internal void Release(bool mayWrite)
    {
        lock (_lock)
        {
            if (mayWrite && --_openMayWrite == 0)
            {
                _writesDrained.TrySetResult();
            }

            // Hand the slot to the first waiter still waiting; the count stays.
            while (_waiters.TryDequeue(out var next))
            {
                if (next.TrySetResult())
                {
                    return;
                }
            }

            _open--;
        }
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }
}

/// <summary>A connection slot of a tenant; released once, when the connection closes.</summary>
internal sealed class TenantLease(TenantSlots slots, bool mayWrite)
{
    private int _released;

    public TenantSlots Slots { get; } = slots;

    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            Slots.Release(mayWrite);
        }
    }
}
