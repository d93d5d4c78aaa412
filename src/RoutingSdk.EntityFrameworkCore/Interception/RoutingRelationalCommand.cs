using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// EF Core's command with RoutingSdk's per-command work, without a command interceptor: once any
/// <see cref="IDbCommandInterceptor"/> is registered, EF Core creates an event-data object for each of a command's
/// seven events, which was most of what a routed read cost over plain EF Core (docs/benchmarks.md, run 6). Here the
/// work runs around EF Core's own execution: it marks a write before the connection opens, opens the connection first
/// (so the node is chosen before the command exists, for every kind of command), refuses what must not run on the
/// connection's node before anything is sent, applies the opt-in commit timeout to autocommit writes, reports a commit
/// the synchronous replicas did not confirm, and hands streamed rows through <see cref="Retry.StreamedResultReader"/>.
/// </summary>
internal sealed class RoutingRelationalCommand(
    RelationalCommandBuilderDependencies dependencies, string commandText, string logCommandText, IReadOnlyList<IRelationalParameter> parameters)
    : RelationalCommand(dependencies, commandText, logCommandText, parameters)
{
    // The execution in progress (a command rented from its connection serves one execution at a time).
    private RoutingContextState? _state;
    private EfRoutingCore? _core;
    private DbContext? _context;
    private CommandSource _source;
    private DbConnection? _checked; // the connection the checks ran against

    public override int ExecuteNonQuery(RelationalCommandParameterObject parameterObject)
    {
        if (!Begin(parameterObject))
        {
            return base.ExecuteNonQuery(parameterObject);
        }

        try
        {
            int result;
            try
            {
                result = base.ExecuteNonQuery(parameterObject);
            }
            catch
            {
                RollbackCommitTimeoutTransaction();
                throw;
            }

            AfterNonQueryAsync(async: false, CancellationToken.None).GetAwaiter().GetResult();
            return result;
        }
        finally
        {
            End(parameterObject);
        }
    }

    public override async Task<int> ExecuteNonQueryAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
    {
        if (!await BeginAsync(parameterObject, cancellationToken).ConfigureAwait(false))
        {
            return await base.ExecuteNonQueryAsync(parameterObject, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            int result;
            try
            {
                result = await base.ExecuteNonQueryAsync(parameterObject, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                RollbackCommitTimeoutTransaction();
                throw;
            }

            await AfterNonQueryAsync(async: true, cancellationToken).ConfigureAwait(false);
            return result;
        }
        finally
        {
            await EndAsync(parameterObject).ConfigureAwait(false);
        }
    }

    public override object? ExecuteScalar(RelationalCommandParameterObject parameterObject)
    {
        if (!Begin(parameterObject))
        {
            return base.ExecuteScalar(parameterObject);
        }

        try
        {
            return base.ExecuteScalar(parameterObject);
        }
        finally
        {
            End(parameterObject);
        }
    }

    public override async Task<object?> ExecuteScalarAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
    {
        if (!await BeginAsync(parameterObject, cancellationToken).ConfigureAwait(false))
        {
            return await base.ExecuteScalarAsync(parameterObject, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            return await base.ExecuteScalarAsync(parameterObject, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await EndAsync(parameterObject).ConfigureAwait(false);
        }
    }

    public override RelationalDataReader ExecuteReader(RelationalCommandParameterObject parameterObject)
    {
        if (!Begin(parameterObject))
        {
            return base.ExecuteReader(parameterObject);
        }

        try
        {
            return base.ExecuteReader(parameterObject); // the reader keeps the connection open until it is disposed
        }
        finally
        {
            End(parameterObject);
        }
    }

    public override async Task<RelationalDataReader> ExecuteReaderAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
    {
        if (!await BeginAsync(parameterObject, cancellationToken).ConfigureAwait(false))
        {
            return await base.ExecuteReaderAsync(parameterObject, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            return await base.ExecuteReaderAsync(parameterObject, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await EndAsync(parameterObject).ConfigureAwait(false);
        }
    }

    /// <summary>A non-query write runs in a transaction of its own when Consistency.CommitTimeout is set (see <see cref="BeginCommitTimeoutTransaction"/>).</summary>
    public override DbCommand CreateDbCommand(RelationalCommandParameterObject parameterObject, Guid commandId, DbCommandMethod commandMethod)
    {
        var command = base.CreateDbCommand(parameterObject, commandId, commandMethod);
        if (_state is not { } state)
        {
            return command;
        }

        if (commandMethod == DbCommandMethod.ExecuteReader && !ReferenceEquals(parameterObject.Connection.DbConnection, _checked))
        {
            // The connection was lost after the checks and EF Core opened another one (a new routing decision) before
            // creating this command: check again against that one. EF Core opened it outside its own cleanup, so a
            // refusal gives that open back; nothing was sent.
            try
            {
                _checked = parameterObject.Connection.DbConnection;
                BeforeExecute(state, _core!, _source, CommandText);
            }
            catch
            {
                command.Dispose();
                parameterObject.Connection.Close();
                throw;
            }
        }

        if (commandMethod == DbCommandMethod.ExecuteNonQuery)
        {
            BeginCommitTimeoutTransaction(command, state);
        }

        return command;
    }

    protected override RelationalDataReader CreateRelationalDataReader() => new StreamingReader(this);

    // --- around an execution ---------------------------------------------------------------------------------------

    /// <summary>Marks a write, opens the connection (choosing its node) and checks the command against it; false for a command without a routed context.</summary>
    private bool Begin(RelationalCommandParameterObject parameterObject)
    {
        if (!Prepare(parameterObject))
        {
            return false;
        }

        try
        {
            parameterObject.Connection.Open();
        }
        catch
        {
            Forget();
            throw;
        }

        Check(parameterObject);
        return true;
    }

    private async ValueTask<bool> BeginAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken)
    {
        if (!Prepare(parameterObject))
        {
            return false;
        }

        try
        {
            await parameterObject.Connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Forget();
            throw;
        }

        Check(parameterObject);
        return true;
    }

    private bool Prepare(RelationalCommandParameterObject parameterObject)
    {
        if (parameterObject.Context is not { } context)
        {
            return false;
        }

        var state = EfRoutingCore.State(context);
        _state = state;
        _core = state.Core ??= QueryRoutingOptionsExtension.For(context);
        _context = context;
        _source = parameterObject.CommandSource;

        // Before the connection opens: the node is chosen then, and a write goes to the primary.
        if (EfRoutingCore.IsWrite(_source))
        {
            EfRoutingCore.MarkWrite(context);
        }

        return true;
    }

    /// <summary>After the open, before anything is sent: a check that throws leaves nothing half-done but the open, which <see cref="End"/> closes.</summary>
    private void Check(RelationalCommandParameterObject parameterObject)
    {
        try
        {
            _checked = parameterObject.Connection.DbConnection;
            BeforeExecute(_state!, _core!, _source, CommandText);
        }
        catch
        {
            End(parameterObject);
            throw;
        }
    }

    private void End(RelationalCommandParameterObject parameterObject)
    {
        Forget();
        parameterObject.Connection.Close();
    }

    private async ValueTask EndAsync(RelationalCommandParameterObject parameterObject)
    {
        Forget();
        await parameterObject.Connection.CloseAsync().ConfigureAwait(false);
    }

    private void Forget()
    {
        _state = null;
        _core = null;
        _context = null;
        _checked = null;
    }

    private static void BeforeExecute(RoutingContextState state, EfRoutingCore core, CommandSource source, string commandText)
    {
        core.EnsureSameCluster(state, state.BindingMayHaveEffect);
        if (!EfRoutingCore.IsWrite(source))
        {
            if (EfRoutingCore.EnsureMarkedQueryOnPrimary(commandText, state) && state.OpenPool is { AcceptTxSession: true })
            {
                state.BindingMayHaveEffect = true; // marked .OnPrimary(): no longer a stand-in read, whatever opened the connection
                state.WroteInAttempt = true;
            }

            if (state.BindingMayHaveEffect && state.OpenPool is { AcceptTxSession: true })
            {
                // A query on a connection routed to the primary as a non-read (under [MasterOnly], .OnPrimary(), a
                // connection the caller opened): it may call a function that writes (SELECT post_invoice(...)). Its
                // outcome is unknown if the connection dies, exactly like a SaveChanges. A statement after it means the
                // one before completed: re-running the attempt would repeat that one.
                state.WriteCompletedInAttempt |= state.WriteInFlight && !state.InSaveChanges;
                state.WriteInFlight = true;
            }

            return;
        }

        EfRoutingCore.EnsureNotOnReplica(state, source);
        state.WriteInFlight = true;
    }

    /// <summary>
    /// With <see cref="ConsistencyOptions.CommitTimeout"/> set, an autocommit write (ExecuteUpdate/Delete, ExecuteSql)
    /// runs in a transaction of its own so that the timeout bounds the COMMIT's wait for the synchronous replicas,
    /// not the statement: a long UPDATE is not cut short. Npgsql sends BEGIN with the statement (no extra round trip);
    /// the COMMIT is one.
    /// </summary>
    private void BeginCommitTimeoutTransaction(DbCommand command, RoutingContextState state)
    {
        if (command.Transaction is not null || !EfRoutingCore.IsWrite(_source)
            || _core!.RouterFor(state).Topology.Options.Consistency.CommitTimeout is null || System.Transactions.Transaction.Current is not null
            || command.Connection is not Npgsql.NpgsqlConnection { State: System.Data.ConnectionState.Open } connection)
        {
            return;
        }

        var transaction = connection.BeginTransaction();
        command.Transaction = transaction;
        state.CommitTimeoutTransaction = transaction;
    }

    /// <summary>A non-query write (ExecuteUpdate/Delete, ExecuteSql) is done once it returned (SaveChanges is done at SavedChanges); its commit-timeout transaction commits; an unconfirmed commit is reported.</summary>
    private async Task AfterNonQueryAsync(bool async, CancellationToken cancellationToken)
    {
        var state = _state!;
        var core = _core!;
        if (EfRoutingCore.IsWrite(_source) && _source != CommandSource.SaveChanges)
        {
            state.WriteInFlight = false;
            state.WriteCompletedInAttempt = true;
        }

        if (state.CommitTimeoutTransaction is { } transaction)
        {
            state.CommitTimeoutTransaction = null;
            try
            {
                var timeout = core.RouterFor(state).Topology.Options.Consistency.CommitTimeout!.Value;
                if (async)
                {
                    await EfRoutingCore.CommitWithTimeoutAsync(transaction, timeout, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    EfRoutingCore.CommitWithTimeoutAsync(transaction, timeout, cancellationToken).GetAwaiter().GetResult();
                }
            }
            finally
            {
                if (async)
                {
                    await transaction.DisposeAsync().ConfigureAwait(false);
                }
                else
                {
                    transaction.Dispose();
                }
            }
        }

        core.ReportUnconfirmedCommit(_context, deferInsideSaveChanges: true);
    }

    /// <summary>A failed or cancelled command rolls back its commit-timeout transaction: the next write must not run inside it.</summary>
    private void RollbackCommitTimeoutTransaction()
    {
        if (_state is not { CommitTimeoutTransaction: { } transaction } state)
        {
            return;
        }

        state.CommitTimeoutTransaction = null;
        try
        {
            if (transaction.Connection is { State: System.Data.ConnectionState.Open })
            {
                transaction.Rollback();
            }
        }
        finally
        {
            transaction.Dispose();
        }
    }

    /// <summary>
    /// A routed query whose rows EF Core hands over as they arrive (not buffered inside the attempt) reads through
    /// <see cref="Retry.StreamedResultReader"/>: its execution strategy has ended by the time a failure after the first
    /// rows comes, and such a failure is still judged by RoutingSdk (a recovery conflict on a replica, a lost primary
    /// under a posting function). A buffered query reads its whole result inside the attempt, where the execution
    /// strategy judges a failure.
    /// </summary>
    private DbDataReader Streamed(DbDataReader reader)
    {
        if (_source is not (CommandSource.LinqQuery or CommandSource.FromSqlQuery) || _state is not { OpenPool: { } pool } state
            || _context is not { } context || state.ResultsBuffered(context))
        {
            return reader;
        }

        return new Retry.StreamedResultReader(reader, pool, state, _core!.RouterFor(state), _core.Logger);
    }

    /// <summary>EF Core's reader of this command, initialized with the streamed wrapper where it applies.</summary>
    private sealed class StreamingReader(RoutingRelationalCommand owner) : RelationalDataReader
    {
        public override void Initialize(IRelationalConnection relationalConnection, DbCommand command, DbDataReader reader, Guid commandId, IRelationalCommandDiagnosticsLogger? logger) =>
            base.Initialize(relationalConnection, command, owner.Streamed(reader), commandId, logger);
    }
}

/// <summary>Builds <see cref="RoutingRelationalCommand"/>s (EF Core's builder, and its command's text and parameters, otherwise unchanged).</summary>
internal sealed class RoutingRelationalCommandBuilder(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilder(dependencies)
{
    public override IRelationalCommand Build()
    {
        var built = (RelationalCommand)base.Build();
        return new RoutingRelationalCommand(Dependencies, built.CommandText, built.LogCommandText, built.Parameters);
    }
}

/// <summary>Replaces EF Core's <see cref="IRelationalCommandBuilderFactory"/> in a routed context's internal service provider.</summary>
internal sealed class RoutingRelationalCommandBuilderFactory(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilderFactory(dependencies)
{
    public override IRelationalCommandBuilder Create() => new RoutingRelationalCommandBuilder(Dependencies);
}
