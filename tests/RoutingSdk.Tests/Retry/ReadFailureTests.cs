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

        Assert.Equal(ReadFailureKind.ReplicaGone, ReadFailure.Classify(new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01"), out _));
        Assert.Equal(ReadFailureKind.ReplicaGone, ReadFailure.Classify(new NpgsqlException("Failed to connect to 127.0.0.1:5", new SocketException((int)SocketError.ConnectionRefused)), out _));
        Assert.Equal(ReadFailureKind.None, ReadFailure.Classify(new PostgresException("relation does not exist", "ERROR", "ERROR", "42P01"), out _));
        Assert.Equal(ReadFailureKind.RecoveryConflict, ReadFailure.Classify(new InvalidOperationException("wrapped", conflict), out _));
    }

    [Theory]
    [InlineData("40001", "Abbruch der Anweisung wegen Konflikt mit der Wiederherstellung")] // German lc_messages
    [InlineData("40001", "annulation de la requête à cause d'un conflit avec la restauration")] // French
    [InlineData("40P01", "Abbruch der Anweisung wegen Konflikt mit der Wiederherstellung")] // buffer-pin deadlock with the startup process
    public void Recovery_conflict_is_recognised_by_sqlstate_whatever_the_server_language(string sqlState, string translated)
    {
        var conflict = new PostgresException(translated, "FEHLER", "ERROR", sqlState);
        Assert.Equal(ReadFailureKind.RecoveryConflict, ReadFailure.Classify(conflict, out _));
    }

    [Fact]
    public void Timeouts_and_a_full_pool_are_not_a_dead_replica()
    {
        // The shapes Npgsql throws: a command timeout, an exhausted pool, a connect timeout.
        Assert.Equal(ReadFailureKind.None, ReadFailure.Classify(new NpgsqlException("Exception while reading from stream", new TimeoutException("Timeout during reading attempt")), out _));
        Assert.Equal(ReadFailureKind.None, ReadFailure.Classify(
            new NpgsqlException("The connection pool has been exhausted, either raise 'Max Pool Size' (currently 1) or 'Timeout' (currently 1 seconds) in your connection string.", new TimeoutException()), out _));
        Assert.Equal(ReadFailureKind.None, ReadFailure.Classify(new NpgsqlException("Exception while reading from stream", new TimeoutException()), out _));
    }

    [Fact]
    public void A_server_that_closed_the_connection_is_gone()
    {
        Assert.Equal(ReadFailureKind.ReplicaGone, ReadFailure.Classify(new NpgsqlException("Exception while reading from stream", new EndOfStreamException()), out _));
        Assert.Equal(ReadFailureKind.ReplicaGone, ReadFailure.Classify(
            new NpgsqlException("Exception while reading from stream", new IOException("Unable to read data", new SocketException((int)SocketError.ConnectionReset))), out _));
    }

    [Fact]
    public void A_write_on_a_replica_is_its_own_kind()
    {
        var readOnly = new PostgresException("cannot execute nextval() in a read-only transaction", "ERROR", "ERROR", "25006");
        Assert.Equal(ReadFailureKind.WriteOnReplica, ReadFailure.Classify(readOnly, out _));
    }
}
