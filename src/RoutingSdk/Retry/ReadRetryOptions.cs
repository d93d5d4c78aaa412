namespace RoutingSdk;

/// <summary>
/// Retry of reads that a replica cancelled (WAL-replay conflict, SQLSTATE 40001) or lost (57P01, connection failure)
/// before any row reached the caller: first on another replica, then on the primary. Writes and anything inside a
/// transaction are never retried.
/// </summary>
public sealed class ReadRetryOptions
{
    /// <summary>Retry cancelled reads (default <see langword="true"/>). When off, a cancelled read throws <see cref="ReplicaReadCancelledException"/>.</summary>
    /// <remarks>An EF Core read is retried when it fails before its first row reached the caller: a replica that died or
    /// froze before answering, and a recovery conflict on a result the server computes before sending it (point reads,
    /// aggregates, sorted reports under 8 KB). A streamed result that fails after rows were handed over (a conflict or a
    /// dying replica in the middle of a long report) is retried only with <see cref="BufferResults"/>.</remarks>
    public bool Enabled { get; set; } = true;

    /// <summary>How many times one read may be retried (default 2: another replica, then the primary).</summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>
    /// Make EF Core read each query's whole result inside the attempt before handing rows over, as with its own
    /// retrying strategies (default <see langword="false"/>), so that a replica read cancelled halfway through a
    /// streamed result is retried too.
    /// </summary>
    /// <remarks>
    /// Off, rows stream to the caller as they arrive and a failure after the first row cannot be retried: a recovery
    /// conflict there throws <see cref="ReplicaReadCancelledException"/> (<see cref="ReplicaReadCancelledException.OperatorDetail"/>
    /// says the rows had been handed over). On, each EF Core query holds an extra copy of its result (about 2 KB more
    /// per point read; a large report's whole result in memory). Turn it on when long, large reports run on replicas and
    /// their cancellations must be invisible. It has no effect with <see cref="Enabled"/> off; ADO.NET reads through
    /// <c>RoutingDataSource.ReadAsync</c> always read inside the attempt.
    /// </remarks>
    public bool BufferResults { get; set; }
}
