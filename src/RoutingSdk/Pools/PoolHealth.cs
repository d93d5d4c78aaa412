namespace RoutingSdk.Pools;

/// <summary>Mutable health facts of one pool, shared across configuration reloads (keyed by pool name).</summary>
internal sealed class PoolHealth
{
    private volatile bool _available = true;
    private long _lagBits = BitConverter.DoubleToInt64Bits(double.NaN);

    public bool IsAvailable => _available;

    /// <summary>Replay lag in milliseconds; NaN while unknown.</summary>
    public double LagMilliseconds => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _lagBits));

    public void MarkUnavailable() => _available = false;

    public void MarkAvailable() => _available = true;

    public void ReportLag(double milliseconds) => Interlocked.Exchange(ref _lagBits, BitConverter.DoubleToInt64Bits(milliseconds));
}

/// <summary>Health of every pool by name; survives topology rebuilds.</summary>
internal sealed class PoolHealthRegistry
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PoolHealth> _health = new(StringComparer.OrdinalIgnoreCase);

    public PoolHealth For(string poolName) => _health.GetOrAdd(poolName, static _ => new PoolHealth());
}
