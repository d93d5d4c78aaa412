using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RoutingSdk.Retry;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.Retry;

/// <summary>
/// The one judgement of a failed attempt (EF Core and ADO.NET alike): re-run only what provably had no effect.
/// No server is involved: the facts are what the callers collect.
/// </summary>
public sealed class AttemptEngineTests
{
    private static readonly PostgresException Conflict = new("canceling statement due to conflict with recovery", "ERROR", "ERROR", "40001");
    private static readonly PostgresException Terminated = new("terminating connection due to administrator command", "FATAL", "FATAL", "57P01");
    private static readonly PostgresException ReadOnly = new("cannot execute INSERT in a read-only transaction", "ERROR", "ERROR", "25006");
    private static readonly PostgresException UniqueViolation = new("duplicate key value violates unique constraint", "ERROR", "ERROR", "23505");
    private static readonly NpgsqlException Refused = new("Failed to connect to 127.0.0.1:5432", new SocketException((int)SocketError.ConnectionRefused));
    private static readonly NpgsqlException StreamClosed = new("Exception while reading from stream", new EndOfStreamException());

    private static (AttemptEngine Engine, RoutingSdk.Pools.RoutingPool Primary, RoutingSdk.Pools.RoutingPool Sync1) Engine()
    {
        var options = TestTopologies.Standard();
        options.Failover.PrimaryWaitTimeout = TimeSpan.FromSeconds(5);
        var (router, topology, _) = TestTopologies.Router(options);
        return (new AttemptEngine(router, NullLogger.Instance), topology.FindPool("WritePool")!, topology.FindPool("sync1")!);
    }

    [Fact]
    public async Task A_read_a_replica_cancelled_runs_again_on_another_node()
    {
        var (engine, _, sync1) = Engine();

        Assert.True(await engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = Conflict }, async: true, default));
        Assert.Same(sync1, engine.Exclude);
        Assert.Equal(1, engine.ReadRetries);
    }

    [Fact]
    public async Task An_attempt_that_wrote_is_never_run_again_as_a_read()
    {
        var (engine, _, sync1) = Engine();

        Assert.False(await engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = Conflict, Wrote = true }, async: true, default));
        await Assert.ThrowsAsync<WriteOnReplicaException>(() => engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = ReadOnly, Wrote = true }, async: true, default).AsTask());
        Assert.Equal(0, engine.ReadRetries);
    }

    [Fact]
    public async Task A_read_in_a_transaction_is_never_run_again()
    {
        var (engine, _, sync1) = Engine();

        Assert.False(await engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = StreamClosed, InTransaction = true }, async: true, default));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_statement_that_may_have_taken_effect_on_a_lost_primary_is_reported_never_run_again(bool committedLocally)
    {
        var (engine, primary, _) = Engine();

        // A posting function in a SELECT under [MasterOnly]: any statement on that connection may have taken effect.
        var failed = new FailedAttempt { Pool = primary, Error = committedLocally ? Terminated : StreamClosed, EffectInFlight = true, CommittedLocally = committedLocally };
        var lost = await Assert.ThrowsAsync<PrimaryConnectionLostException>(() => engine.RunAgainAsync(failed, async: true, default).AsTask());

        Assert.Equal(committedLocally, lost.CommittedLocally);
        Assert.False(primary.Health.IsAvailable); // taken out: its idle connections point at a dead node
    }

    [Fact]
    public async Task A_write_completed_earlier_in_the_attempt_makes_it_unrepeatable_even_if_the_read_after_it_did_nothing()
    {
        var (engine, primary, _) = Engine();

        await Assert.ThrowsAsync<PrimaryConnectionLostException>(
            () => engine.RunAgainAsync(new FailedAttempt { Pool = primary, Error = StreamClosed, EffectCompleted = true }, async: true, default).AsTask());
    }

    [Fact]
    public async Task A_statement_terminated_before_its_commit_had_no_effect_and_runs_again_once_a_primary_is_back()
    {
        var (engine, primary, _) = Engine();

        // 57P01 without PostgreSQL's "committed locally" notice: the statement was rolled back.
        Assert.True(await engine.RunAgainAsync(new FailedAttempt { Pool = primary, Error = Terminated, EffectInFlight = true }, async: true, default));
        Assert.Null(engine.Exclude);
        Assert.Equal(0, engine.ReadRetries); // a wait for the primary is not a read retry
    }

    [Fact]
    public async Task An_open_that_failed_on_the_primary_sent_nothing_and_runs_again()
    {
        var (engine, primary, _) = Engine();

        Assert.True(await engine.RunAgainAsync(new FailedAttempt { Pool = primary, Error = Refused, NothingSent = true, EffectInFlight = false }, async: true, default));
    }

    [Fact]
    public async Task An_open_refused_on_the_primary_inside_a_transaction_is_left_to_the_caller()
    {
        var (engine, primary, _) = Engine();

        Assert.False(await engine.RunAgainAsync(new FailedAttempt { Pool = primary, Error = Refused, NothingSent = true, InTransaction = true }, async: true, default));
    }

    [Fact]
    public async Task An_error_the_server_answered_with_propagates_unchanged()
    {
        var (engine, primary, sync1) = Engine();

        Assert.False(await engine.RunAgainAsync(new FailedAttempt { Pool = primary, Error = UniqueViolation, EffectInFlight = true }, async: true, default));
        Assert.False(await engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = UniqueViolation }, async: true, default));
        Assert.True(primary.Health.IsAvailable);
        Assert.True(sync1.Health.IsAvailable);
    }

    [Fact]
    public async Task A_connection_the_monitor_aborted_is_judged_as_on_a_dead_node_whatever_Npgsql_called_it()
    {
        var (engine, _, sync1) = Engine();

        var aborted = new FailedAttempt { Pool = sync1, Error = new NpgsqlException("Exception while reading from stream", new IOException("Operation canceled", new SocketException(125))), Aborted = true };
        Assert.True(await engine.RunAgainAsync(aborted, async: true, default));
        Assert.Same(sync1, engine.Exclude);
    }

    [Fact]
    public async Task Read_retries_stop_at_the_configured_limit()
    {
        var (engine, _, sync1) = Engine();

        Assert.True(await engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = Conflict }, async: true, default));
        Assert.True(await engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = Conflict }, async: true, default));
        var cancelled = await Assert.ThrowsAsync<ReplicaReadCancelledException>(() => engine.RunAgainAsync(new FailedAttempt { Pool = sync1, Error = Conflict }, async: true, default).AsTask());
        Assert.Contains("2 retries exhausted", cancelled.OperatorDetail);
    }

    [Fact]
    public void A_conflict_after_rows_were_handed_over_is_reported_never_run_again()
    {
        var (router, topology, _) = TestTopologies.Router(TestTopologies.Standard());
        var sync1 = topology.FindPool("sync1")!;

        var reported = Assert.IsType<ReplicaReadCancelledException>(ReadRetryPolicy.AfterRowsHandedOver(Conflict, sync1, router.Metrics, NullLogger.Instance, new ReadRetryOptions()));
        Assert.Equal("sync1", reported.PoolName);
        Assert.Same(Conflict, reported.PostgresError);
        Assert.Contains("handed to the caller", reported.OperatorDetail);
        Assert.Contains("ReadRetry.BufferResults = true", reported.OperatorDetail);

        // Anything else keeps its own error; an unrelated one leaves the replica alone, a dying replica is evicted.
        Assert.Null(ReadRetryPolicy.AfterRowsHandedOver(UniqueViolation, sync1, router.Metrics, NullLogger.Instance, new ReadRetryOptions()));
        Assert.True(sync1.Health.IsAvailable);
        Assert.Null(ReadRetryPolicy.AfterRowsHandedOver(StreamClosed, sync1, router.Metrics, NullLogger.Instance, new ReadRetryOptions()));
        Assert.False(sync1.Health.IsAvailable);
    }

    [Fact]
    public void A_primary_connection_lost_after_rows_under_a_statement_with_effect_is_reported_as_lost_never_run_again()
    {
        var (router, topology, _) = TestTopologies.Router(TestTopologies.Standard());
        var primary = topology.FindPool("WritePool")!;

        var lost = Assert.IsType<PrimaryConnectionLostException>(AttemptEngine.AfterRowsHandedOver(
            new FailedAttempt { Pool = primary, Error = StreamClosed, EffectInFlight = true, CommittedLocally = true }, router, NullLogger.Instance));
        Assert.True(lost.CommittedLocally);

        // A plain read on the primary keeps its own error; so does a statement the server terminated before its commit
        // (rolled back: nothing took effect).
        Assert.Null(AttemptEngine.AfterRowsHandedOver(new FailedAttempt { Pool = primary, Error = StreamClosed }, router, NullLogger.Instance));
        Assert.Null(AttemptEngine.AfterRowsHandedOver(new FailedAttempt { Pool = primary, Error = Terminated, EffectInFlight = true }, router, NullLogger.Instance));
    }
}
