using System.Net.Sockets;
using Npgsql;

namespace RoutingSdk.Retry;

internal enum ReadFailureKind
{
    None,

    /// <summary>The replica cancelled the read to keep WAL replay going (a recovery conflict).</summary>
    RecoveryConflict,

    /// <summary>The replica went away: 57P01/57P02/57P03, a refused connection, or a connection the server closed.</summary>
    ReplicaGone,

    /// <summary>SQLSTATE 25006: the statement tried to write on a read-only replica. Never retried (it may write).</summary>
    WriteOnReplica,
}

/// <summary>
/// Classifies a failed read by SQLSTATE and exception type only, never by message text: PostgreSQL translates its
/// messages (<c>lc_messages</c>), so text matching would silently switch retry off on a non-English server.
/// </summary>
internal static class ReadFailure
{
    /// <summary>
    /// Npgsql's "pool exhausted": no free connection within the pool's Timeout. A busy pool, not a dead node. (Npgsql's
    /// own message, which is not translated; it has no error code of its own.)
    /// </summary>
    public static bool IsPoolExhausted(Exception exception) =>
        exception is NpgsqlException { InnerException: TimeoutException } npgsql
        && npgsql.Message.StartsWith("The connection pool has been exhausted", StringComparison.Ordinal);

    public static ReadFailureKind Classify(Exception exception, out PostgresException? postgres)
    {
        postgres = null;
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    postgres = pg;
                    return pg.SqlState switch
                    {
                        // On a hot standby, a read outside a transaction can fail with 40001 or 40P01 only through a
                        // recovery conflict (SERIALIZABLE is not available there), so the code alone identifies it.
                        // https://www.postgresql.org/docs/current/hot-standby.html#HOT-STANDBY-CONFLICT
                        PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected => ReadFailureKind.RecoveryConflict,
                        PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow => ReadFailureKind.ReplicaGone,
                        PostgresErrorCodes.ReadOnlySqlTransaction => ReadFailureKind.WriteOnReplica,
                        _ => ReadFailureKind.None,
                    };

                // A timeout (client command timeout, a full pool, a slow connect) is the caller's problem, not proof that
                // the node is gone: evicting on it would move every heavy read to the primary.
                case TimeoutException:
                    return ReadFailureKind.None;

                // The server closed the socket (a killed backend, a stopped node) or refused the connection.
                case EndOfStreamException:
                    return ReadFailureKind.ReplicaGone;
                case SocketException socket:
                    return socket.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset or SocketError.ConnectionAborted
                        or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostDown or SocketError.Shutdown or SocketError.NotConnected
                        ? ReadFailureKind.ReplicaGone
                        : ReadFailureKind.None;
                case IOException { InnerException: null }:
                    return ReadFailureKind.ReplicaGone;
            }
        }

        return ReadFailureKind.None;
    }
}
