using System.Net.Sockets;
using Npgsql;

namespace RoutingSdk.Retry;

internal enum ReadFailureKind
{
    None,

    /// <summary>SQLSTATE 40001 "canceling statement due to conflict with recovery": the replica kept WAL replay going.</summary>
    RecoveryConflict,

    /// <summary>The replica went away: 57P01/57P02/57P03 or a broken or refused connection.</summary>
    ReplicaGone,
}

internal static class ReadFailure
{
    public static ReadFailureKind Classify(Exception exception, out PostgresException? postgres)
    {
        postgres = null;
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    postgres = pg;
                    if (pg.SqlState == PostgresErrorCodes.SerializationFailure && pg.MessageText.Contains("conflict with recovery", StringComparison.Ordinal))
                    {
                        return ReadFailureKind.RecoveryConflict;
                    }

                    return pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
                        ? ReadFailureKind.ReplicaGone
                        : ReadFailureKind.None;
                case NpgsqlException { InnerException: IOException or SocketException or TimeoutException }:
                    return ReadFailureKind.ReplicaGone;
                case NpgsqlException npgsql when npgsql.Message.StartsWith("Failed to connect", StringComparison.Ordinal)
                    || npgsql.Message.Contains("Exception while reading from stream", StringComparison.Ordinal):
                    return ReadFailureKind.ReplicaGone;
            }
        }

        return ReadFailureKind.None;
    }
}
