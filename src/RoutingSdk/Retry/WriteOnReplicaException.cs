using Npgsql;

namespace RoutingSdk;

/// <summary>
/// A statement routed as a read ran on a read-only replica and tried to write (SQLSTATE 25006): <c>nextval()</c>,
/// <c>SELECT ... FOR UPDATE</c>, a function that modifies data. It was not re-run anywhere, because it may write.
/// </summary>
public sealed class WriteOnReplicaException : RoutingException
{
    internal WriteOnReplicaException(string poolName, PostgresException inner)
        : base(
            $"A query routed as a read ran on replica pool '{poolName}' but tries to write ({inner.SqlState}: {inner.MessageText}). " +
            "It was not repeated on the primary automatically, because it may write. Send this query to the primary: " +
            "mark it with .OnPrimary() (EF Core), or run the operation under [MasterOnly] / RoutingScope.Begin(RouteKind.MasterOnly).",
            inner)
    {
        PoolName = poolName;
    }

    /// <summary>The replica pool the statement reached.</summary>
    public string PoolName { get; }

    /// <summary>The PostgreSQL error (SQLSTATE 25006, read_only_sql_transaction).</summary>
    public PostgresException PostgresError => (PostgresException)InnerException!;
}
