using System.Collections;
using System.Data.Common;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RoutingSdk.EntityFrameworkCore.Interception;
using RoutingSdk.EntityFrameworkCore.Retry;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.EntityFrameworkCore.Retry;

/// <summary>
/// A streamed EF Core result's failures after rows were handed over: judged by RoutingSdk (never run again), left to an
/// enclosing execution strategy when there is one. No server: the inner reader fails on cue.
/// </summary>
public sealed class StreamedResultReaderTests
{
    private static readonly PostgresException Conflict = new("canceling statement due to conflict with recovery", "ERROR", "ERROR", "40001");
    private static readonly NpgsqlException StreamClosed = new("Exception while reading from stream", new EndOfStreamException());

    private static (StreamedResultReader Reader, RoutingContextState State, RoutingSdk.Pools.RoutingPool Pool) Streamed(
        string pool, Exception? onRead = null, Exception? onClose = null)
    {
        var (router, topology, _) = TestTopologies.Router(TestTopologies.Standard());
        var routed = topology.FindPool(pool)!;
        var state = new RoutingContextState();
        return (new StreamedResultReader(new FailingReader(onRead, onClose), routed, state, router, NullLogger.Instance), state, routed);
    }

    [Fact]
    public async Task A_conflict_after_the_first_row_on_a_replica_is_reported_sync_and_async()
    {
        var (reader, _, _) = Streamed("sync1", onRead: Conflict);
        Assert.True(reader.Read()); // the first row reached the caller
        var sync = Assert.Throws<ReplicaReadCancelledException>(() => reader.Read());
        Assert.Equal("sync1", sync.PoolName);

        var (asyncReader, _, _) = Streamed("sync1", onRead: Conflict);
        Assert.True(await asyncReader.ReadAsync());
        var async = await Assert.ThrowsAsync<ReplicaReadCancelledException>(() => asyncReader.ReadAsync());
        Assert.Contains("handed to the caller", async.OperatorDetail);
    }

    [Fact]
    public void Inside_an_execution_strategy_the_strategy_judges_the_original_error()
    {
        var (reader, state, _) = Streamed("sync1", onRead: Conflict);
        state.StrategyDepth = 1;
        Assert.True(reader.Read());
        Assert.Same(Conflict, Assert.Throws<PostgresException>(() => reader.Read()));
    }

    [Fact]
    public async Task A_primary_lost_while_closing_a_posting_query_is_a_lost_connection_with_its_commit_notice()
    {
        var (reader, state, _) = Streamed("WritePool", onClose: StreamClosed);
        state.BindingMayHaveEffect = true; // SELECT post_invoice(…) under [MasterOnly]
        state.UnconfirmedCommitNotice = "canceling wait for synchronous replication";

        var lost = await Assert.ThrowsAsync<PrimaryConnectionLostException>(() => reader.DisposeAsync().AsTask());
        Assert.True(lost.CommittedLocally);
        Assert.Null(state.UnconfirmedCommitNotice); // reported with this failure, not at the context's next write
    }

    [Fact]
    public void A_plain_read_on_the_primary_keeps_its_own_error_and_a_finished_read_drops_its_notice()
    {
        var (failing, _, _) = Streamed("WritePool", onClose: StreamClosed);
        Assert.Same(StreamClosed, Assert.Throws<NpgsqlException>(() => failing.Close()));

        var (finished, state, _) = Streamed("WritePool");
        state.UnconfirmedCommitNotice = "canceling wait for synchronous replication";
        finished.Dispose();
        Assert.Null(state.UnconfirmedCommitNotice);
    }

    [Fact]
    public void Enumerating_the_reader_reads_through_the_judgement()
    {
        var (reader, _, _) = Streamed("sync1", onRead: Conflict);
        var rows = reader.GetEnumerator();
        Assert.True(rows.MoveNext());
        Assert.Throws<ReplicaReadCancelledException>(() => rows.MoveNext());
    }

    /// <summary>One row, then <paramref name="onRead"/> (or the end); closing throws <paramref name="onClose"/>.</summary>
    private sealed class FailingReader(Exception? onRead, Exception? onClose) : DbDataReader
    {
        private int _reads;

        public override bool Read() => ++_reads == 1 || (onRead is { } e ? throw e : false);

        public override Task<bool> ReadAsync(CancellationToken cancellationToken) => Task.FromResult(Read());

        public override void Close()
        {
            if (onClose is not null)
            {
                throw onClose;
            }
        }

        public override bool NextResult() => false;

        public override int FieldCount => 1;

        public override object GetValue(int ordinal) => 1;

        public override int GetValues(object[] values)
        {
            values[0] = 1;
            return 1;
        }

        public override bool IsClosed => false;

        public override bool HasRows => true;

        public override int RecordsAffected => -1;

        public override int Depth => 0;

        public override object this[int ordinal] => GetValue(ordinal);

        public override object this[string name] => GetValue(0);

        public override string GetName(int ordinal) => "value";

        public override int GetOrdinal(string name) => 0;

        public override Type GetFieldType(int ordinal) => typeof(int);

        public override string GetDataTypeName(int ordinal) => "integer";

        public override bool IsDBNull(int ordinal) => false;

        public override int GetInt32(int ordinal) => 1;

        public override bool GetBoolean(int ordinal) => throw new NotSupportedException();

        public override byte GetByte(int ordinal) => throw new NotSupportedException();

        public override long GetBytes(int ordinal, long dataOffset, byte[]? buffer, int bufferOffset, int length) => throw new NotSupportedException();

        public override char GetChar(int ordinal) => throw new NotSupportedException();

        public override long GetChars(int ordinal, long dataOffset, char[]? buffer, int bufferOffset, int length) => throw new NotSupportedException();

        public override DateTime GetDateTime(int ordinal) => throw new NotSupportedException();

        public override decimal GetDecimal(int ordinal) => throw new NotSupportedException();

        public override double GetDouble(int ordinal) => throw new NotSupportedException();

        public override float GetFloat(int ordinal) => throw new NotSupportedException();

        public override Guid GetGuid(int ordinal) => throw new NotSupportedException();

        public override short GetInt16(int ordinal) => throw new NotSupportedException();

        public override long GetInt64(int ordinal) => throw new NotSupportedException();

        public override string GetString(int ordinal) => throw new NotSupportedException();

        public override IEnumerator GetEnumerator() => new DbEnumerator(this);
    }
}
