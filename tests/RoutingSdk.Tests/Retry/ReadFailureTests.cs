using System.Net.Sockets;
using Npgsql;
using RoutingSdk.Retry;

namespace RoutingSdk.Tests.Retry;

public sealed class ReadFailureTests
{
    [Fact]
    public void Recovery_conflict_dead_replica_and_other_errors_are_told_apart()
    {
        var conflict = new PostgresException("canceling statement due to conflict with recovery", "ERROR", "ERROR", "40001");
        Assert.Equal(ReadFailureKind.RecoveryConflict, ReadFailure.Classify(conflict, out var pg));
        Assert.Same(conflict, pg);

        var serializable = new PostgresException("could not serialize access due to concurrent update", "ERROR", "ERROR", "40001");
        Assert.Equal(ReadFailureKind.None, ReadFailure.Classify(serializable, out _));

        Assert.Equal(ReadFailureKind.ReplicaGone, ReadFailure.Classify(new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01"), out _));
        Assert.Equal(ReadFailureKind.ReplicaGone, ReadFailure.Classify(new NpgsqlException("Failed to connect to 127.0.0.1:5", new SocketException(111)), out _));
        Assert.Equal(ReadFailureKind.None, ReadFailure.Classify(new PostgresException("relation does not exist", "ERROR", "ERROR", "42P01"), out _));
        Assert.Equal(ReadFailureKind.RecoveryConflict, ReadFailure.Classify(new InvalidOperationException("wrapped", conflict), out _));
    }
}
