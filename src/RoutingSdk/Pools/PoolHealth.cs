namespace RoutingSdk.Pools;

/// <summary>Mutable health facts of one pool, shared across configuration reloads (keyed by pool name).</summary>
internal sealed class PoolHealth(PoolHealthRegistry registry)
{
    /// <summary>Without a running monitor nobody readmits an evicted pool: it is tried again after this long.</summary>
    internal static readonly TimeSpan UnmonitoredCooldown = TimeSpan.FromSeconds(5);

    private volatile bool _available = true;
    private long _evictedUntil;
    private long _lagBits = BitConverter.DoubleToInt64Bits(double.NaN);
    private int _consecutiveGood;
    private int _consecutiveBad;
    private long _lagAt;
    private CancellationTokenSource _lost = new();

    /// <summary>
    /// Cancelled when the health monitor finds the node unreachable; connections in use on it watch this
    /// (<see cref="NodeWatch"/>) and are aborted. A new token is handed out once the pool is readmitted.
    /// </summary>
    public CancellationToken Lost => Volatile.Read(ref _lost).Token;

    /// <summary>
    /// The node answers nothing: abort every connection in use on it (on a thread-pool thread, never the caller's).
    /// Returns false when it was already marked.
    /// </summary>
    public bool MarkLost(string because)
    {
        var lost = Volatile.Read(ref _lost);
        if (lost.IsCancellationRequested || Interlocked.Exchange(ref _lostMarked, 1) == 1)
        {
            return false;
        }

        LostBecause = because;

        ThreadPool.UnsafeQueueUserWorkItem(static cts => cts.Cancel(), lost, preferLocal: false);
        return true;
    }

    private int _lostMarked;

    /// <summary>What the monitor saw when it marked the node lost (for the messages of aborted attempts).</summary>
    public string? LostBecause { get; private set; }

    public bool IsAvailable => _available || (!registry.MonitorActive && Environment.TickCount64 >= Interlocked.Read(ref _evictedUntil));

    /// <summary>Replay lag in milliseconds; NaN while unknown.</summary>
    public double LagMilliseconds => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _lagBits));

    public long LagBytes { get; private set; }

    public string? Node { get; private set; }

    public string? LastProblem { get; private set; }

    public DateTimeOffset? LastCheck { get; private set; }

    public bool RoleMismatch { get; private set; }

    /// <summary>Environment.TickCount64 of the primary's WAL position this replica had replayed at its last caught-up check.</summary>
    public long? CaughtUpAt { get; set; }

    /// <summary>Takes the pool out of rotation now; the monitor readmits it after consecutive good checks.</summary>
    public bool Evict(string reason)
    {
        var wasAvailable = _available;
        _available = false;
        Interlocked.Exchange(ref _evictedUntil, Environment.TickCount64 + (long)UnmonitoredCooldown.TotalMilliseconds);
        Volatile.Write(ref _consecutiveGood, 0);
        LastProblem = reason;
        return wasAvailable;
    }

    public void MarkUnavailable() => Evict("marked unavailable");

    public void MarkAvailable()
    {
        if (Volatile.Read(ref _lost).IsCancellationRequested)
        {
            Volatile.Write(ref _lostMarked, 0);
            Volatile.Write(ref _lost, new CancellationTokenSource()); // connections opened from now on are watched anew
        }

        _available = true;
        LastProblem = null;
    }

    public void ReportLag(double milliseconds) => ReportLag(milliseconds, Environment.TickCount64);

    /// <summary>Records a lag measured at <paramref name="measuredAt"/> (Environment.TickCount64).</summary>
    public void ReportLag(double milliseconds, long measuredAt)
    {
        Interlocked.Exchange(ref _lagBits, BitConverter.DoubleToInt64Bits(milliseconds));
        Interlocked.Exchange(ref _lagAt, measuredAt);
    }

    /// <summary>
    /// The replay lag a routing decision may trust: NaN (unknown) when the last measurement is older than the
    /// registry's <see cref="PoolHealthRegistry.MaxLagAge"/> — a monitor that stalls must not leave an old
    /// "0 ms" standing for a replica that has fallen behind since.
    /// </summary>
    public double CurrentLag
    {
        get
        {
            var lag = LagMilliseconds;
            var maxAge = registry.MaxLagAge;
            return maxAge > 0 && Environment.TickCount64 - Interlocked.Read(ref _lagAt) > maxAge ? double.NaN : lag;
        }
    }

    /// <summary>Records a good check; returns true when this readmitted the pool.</summary>
    public bool RecordGoodCheck(int readmitAfter, string node, double lagMilliseconds, long lagBytes)
    {
        Node = node;
        LagBytes = lagBytes;
        ReportLag(lagMilliseconds);
        LastCheck = DateTimeOffset.UtcNow;
        RoleMismatch = false;
        Volatile.Write(ref _consecutiveBad, 0);
        var good = Interlocked.Increment(ref _consecutiveGood);
        if (!_available && good >= readmitAfter)
        {
            MarkAvailable();
            return true;
        }

        if (_available)
        {
            LastProblem = null;
        }

        return false;
    }

    /// <summary>The monitor found the node unreachable and has not readmitted it yet.</summary>
    public bool IsLost => Volatile.Read(ref _lost).IsCancellationRequested;

    /// <summary>
    /// An attempt failed on the node as on a dead one: evicts it — unless the monitor found it lost. Then it is evicted
    /// already and only the monitor's good checks readmit it; attempts refused meanwhile are no new evidence, and
    /// counting them would reset those checks forever (a thawed node never readmitted). Returns true when this evicted.
    /// </summary>
    public bool EvictAfterFailedAttempt(string reason) => !IsLost && Evict(reason);

    /// <summary>Checks that failed in a row since the last good one.</summary>
    public int ConsecutiveBadChecks => Volatile.Read(ref _consecutiveBad);

    public bool RecordBadCheck(string problem, bool roleMismatch = false)
    {
        Interlocked.Increment(ref _consecutiveBad);
        LastCheck = DateTimeOffset.UtcNow;
        RoleMismatch = roleMismatch;
        return Evict(problem);
    }
}

/// <summary>Health of every pool by name; survives topology rebuilds.</summary>
internal sealed class PoolHealthRegistry
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PoolHealth> _health = new(StringComparer.OrdinalIgnoreCase);
    private volatile bool _monitorActive;

    /// <summary>The background monitor runs: it, not a cooldown, readmits evicted pools.</summary>
    public bool MonitorActive
    {
        get => _monitorActive;
        set => _monitorActive = value;
    }

    public PoolHealth For(string poolName) => _health.GetOrAdd(poolName, _ => new PoolHealth(this));

    /// <summary>
    /// How old (ms) a lag measurement may be before decisions treat it as unknown; 0 = any age. The monitor sets it
    /// from its interval and check timeout.
    /// </summary>
    public long MaxLagAge
    {
        get => Interlocked.Read(ref _maxLagAge);
        set => Interlocked.Exchange(ref _maxLagAge, value);
    }

    private long _maxLagAge;
}
