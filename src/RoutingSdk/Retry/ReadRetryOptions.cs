namespace RoutingSdk;

/// <summary>
/// Retry of reads that a replica cancelled (WAL-replay conflict, SQLSTATE 40001) or lost (57P01, connection failure)
/// before any row reached the caller: first on another replica, then on the primary. Writes and anything inside a
/// transaction are never retried.
/// </summary>
public sealed class ReadRetryOptions
{
    /// <summary>Retry cancelled reads (default <see langword="true"/>). When off, a cancelled read throws <see cref="ReplicaReadCancelledException"/>.</summary>
    /// <remarks>With retries on, EF Core buffers each query's rows before handing them over (as with its own retrying
    /// strategies), so that a cancellation can never hit a half-read result.</remarks>
    public bool Enabled { get; set; } = true;

    /// <summary>How many times one read may be retried (default 2: another replica, then the primary).</summary>
    public int MaxRetries { get; set; } = 2;
}
