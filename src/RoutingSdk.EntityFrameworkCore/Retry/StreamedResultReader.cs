using System.Collections;
using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using RoutingSdk.EntityFrameworkCore.Interception;
using RoutingSdk.Pools;
using RoutingSdk.Retry;
using RoutingSdk.Routing;

namespace RoutingSdk.EntityFrameworkCore.Retry;

/// <summary>
/// The reader of a routed query whose rows stream to the caller (EF Core does not buffer them:
/// <see cref="ReadRetryOptions.BufferResults"/> off), so its execution strategy has ended before the rows are read.
/// Every member passes through; a failure while moving to the next row or result, or while closing (Npgsql reads the
/// rest of the result then) — after rows were handed over, so the query is never run again — is judged by
/// <see cref="AttemptEngine.AfterRowsHandedOver"/> with what the context knows: a recovery conflict on a replica becomes
/// <see cref="ReplicaReadCancelledException"/>, a primary connection lost under a statement that may have taken effect
/// <see cref="PrimaryConnectionLostException"/>.
/// </summary>
internal sealed class StreamedResultReader(DbDataReader inner, RoutingPool pool, RoutingContextState state, QueryRouter router, Microsoft.Extensions.Logging.ILogger logger)
    : DbDataReader, IDbColumnSchemaGenerator
{
    public override bool Read()
    {
        try
        {
            return inner.Read();
        }
        catch (Exception ex)
        {
            throw Judge(ex) ?? Rethrow(ex);
        }
    }

    public override async Task<bool> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Judge(ex) ?? Rethrow(ex);
        }
    }

    public override bool NextResult()
    {
        try
        {
            return inner.NextResult();
        }
        catch (Exception ex)
        {
            throw Judge(ex) ?? Rethrow(ex);
        }
    }

    public override async Task<bool> NextResultAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await inner.NextResultAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Judge(ex) ?? Rethrow(ex);
        }
    }

    // Keeps the original stack trace when RoutingSdk has nothing to add.
    private static Exception Rethrow(Exception ex)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex).Throw();
        return ex;
    }

    private Exception? Judge(Exception ex)
    {
        if (state.StrategyDepth > 0)
        {
            return null; // read inside an execution strategy (the caller's ExecuteAsync): that strategy judges the failure
        }

        var failed = new FailedAttempt
        {
            Pool = pool,
            Error = ex,
            Aborted = state.Watch is { Aborted: true } watch && ReferenceEquals(watch.Pool, pool),
            EffectInFlight = pool.AcceptTxSession && state.BindingMayHaveEffect,
            CommittedLocally = state.UnconfirmedCommitNotice is not null,
        };
        var replaced = AttemptEngine.AfterRowsHandedOver(failed, router, logger);
        if (replaced is not null)
        {
            state.UnconfirmedCommitNotice = null; // reported with this failure, not again at the context's next write
        }

        return replaced;
    }

    public override object this[int ordinal] => inner[ordinal];

    public override object this[string name] => inner[name];

    public override int Depth => inner.Depth;

    public override int FieldCount => inner.FieldCount;

    public override bool HasRows => inner.HasRows;

    public override bool IsClosed => inner.IsClosed;

    public override int RecordsAffected => inner.RecordsAffected;

    public override int VisibleFieldCount => inner.VisibleFieldCount;

    public override bool GetBoolean(int ordinal) => inner.GetBoolean(ordinal);

    public override byte GetByte(int ordinal) => inner.GetByte(ordinal);

    public override long GetBytes(int ordinal, long dataOffset, byte[]? buffer, int bufferOffset, int length) => inner.GetBytes(ordinal, dataOffset, buffer, bufferOffset, length);

    public override char GetChar(int ordinal) => inner.GetChar(ordinal);

    public override long GetChars(int ordinal, long dataOffset, char[]? buffer, int bufferOffset, int length) => inner.GetChars(ordinal, dataOffset, buffer, bufferOffset, length);

    public override string GetDataTypeName(int ordinal) => inner.GetDataTypeName(ordinal);

    public override DateTime GetDateTime(int ordinal) => inner.GetDateTime(ordinal);

    public override decimal GetDecimal(int ordinal) => inner.GetDecimal(ordinal);

    public override double GetDouble(int ordinal) => inner.GetDouble(ordinal);

    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.PublicProperties)]
    public override Type GetFieldType(int ordinal) => inner.GetFieldType(ordinal);

    public override float GetFloat(int ordinal) => inner.GetFloat(ordinal);

    public override Guid GetGuid(int ordinal) => inner.GetGuid(ordinal);

    public override short GetInt16(int ordinal) => inner.GetInt16(ordinal);

    public override int GetInt32(int ordinal) => inner.GetInt32(ordinal);

    public override long GetInt64(int ordinal) => inner.GetInt64(ordinal);

    public override string GetName(int ordinal) => inner.GetName(ordinal);

    public override int GetOrdinal(string name) => inner.GetOrdinal(name);

    public override string GetString(int ordinal) => inner.GetString(ordinal);

    public override object GetValue(int ordinal) => inner.GetValue(ordinal);

    public override int GetValues(object[] values) => inner.GetValues(values);

    public override bool IsDBNull(int ordinal) => inner.IsDBNull(ordinal);

    public override Task<bool> IsDBNullAsync(int ordinal, CancellationToken cancellationToken) => inner.IsDBNullAsync(ordinal, cancellationToken);

    public override T GetFieldValue<T>(int ordinal) => inner.GetFieldValue<T>(ordinal);

    public override Task<T> GetFieldValueAsync<T>(int ordinal, CancellationToken cancellationToken) => inner.GetFieldValueAsync<T>(ordinal, cancellationToken);

    public override Stream GetStream(int ordinal) => inner.GetStream(ordinal);

    public override TextReader GetTextReader(int ordinal) => inner.GetTextReader(ordinal);

    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.PublicProperties)]
    public override Type GetProviderSpecificFieldType(int ordinal) => inner.GetProviderSpecificFieldType(ordinal);

    public override object GetProviderSpecificValue(int ordinal) => inner.GetProviderSpecificValue(ordinal);

    public override int GetProviderSpecificValues(object[] values) => inner.GetProviderSpecificValues(values);

    public override DataTable? GetSchemaTable() => inner.GetSchemaTable();

    public override Task<DataTable?> GetSchemaTableAsync(CancellationToken cancellationToken = default) => inner.GetSchemaTableAsync(cancellationToken);

    public override Task<System.Collections.ObjectModel.ReadOnlyCollection<DbColumn>> GetColumnSchemaAsync(CancellationToken cancellationToken = default) =>
        inner.GetColumnSchemaAsync(cancellationToken);

    public System.Collections.ObjectModel.ReadOnlyCollection<DbColumn> GetColumnSchema() => inner.GetColumnSchema();

    public override IEnumerator GetEnumerator() => new DbEnumerator(this, closeReader: false); // reads through this wrapper

    public override void Close()
    {
        try
        {
            inner.Close();
            Finished();
        }
        catch (Exception ex)
        {
            throw Judge(ex) ?? Rethrow(ex);
        }
    }

    public override async Task CloseAsync()
    {
        try
        {
            await inner.CloseAsync().ConfigureAwait(false);
            Finished();
        }
        catch (Exception ex)
        {
            throw Judge(ex) ?? Rethrow(ex);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        try
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            Finished();
        }
        catch (Exception ex)
        {
            throw Judge(ex) ?? Rethrow(ex);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            try
            {
                inner.Dispose();
                Finished();
            }
            catch (Exception ex)
            {
                throw Judge(ex) ?? Rethrow(ex);
            }
        }

        // Not base.Dispose: it would Close() the reader a second time.
    }

    /// <summary>
    /// The result was read to its end outside any execution strategy: a commit notice that came with it (a posting
    /// function's commit that the synchronous replicas did not confirm) belongs to this finished statement, and is
    /// dropped as a buffered read's is when its strategy ends, so that it is not reported against the context's next
    /// write.
    /// </summary>
    private void Finished()
    {
        if (state.StrategyDepth == 0)
        {
            state.UnconfirmedCommitNotice = null;
        }
    }

    protected override DbDataReader GetDbDataReader(int ordinal) => inner.GetData(ordinal);
}
