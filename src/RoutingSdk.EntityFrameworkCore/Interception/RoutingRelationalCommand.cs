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
                CommitTimeout.RollbackOwnTransaction(_state);
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
                CommitTimeout.RollbackOwnTransaction(_state);
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

    /// <summary>A non-query write runs in a transaction of its own when Consistency.CommitTimeout is set (see <see cref="CommitTimeout.BeginOwnTransaction"/>).</summary>
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
                CommandRules.BeforeExecute(state, _core!, _source, CommandText);
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
            CommitTimeout.BeginOwnTransaction(command, state, _core!.RouterFor(state), _source);
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

        if (parameterObject.Connection is not RoutingRelationalConnection connection)
        {
            // Npgsql's admin connection (EnsureCreated, EnsureDeleted and Migrate creating or dropping the database) is
            // its own NpgsqlRelationalConnection, on UseNpgsql's connection string: it runs there, unrouted, as before.
            return parameterObject.Connection is RoutingRelationalConnection.AdminConnection
                ? false
                : throw QueryRoutingOptionsExtension.ForeignConnection(context);
        }

        var state = connection.RoutingState; // the context's, without a service lookup per command
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
            CommandRules.BeforeExecute(_state!, _core!, _source, CommandText);
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

        await CommitTimeout.CommitOwnTransactionAsync(state, core.RouterFor(state), async, cancellationToken).ConfigureAwait(false);
        core.ReportUnconfirmedCommit(_context, deferInsideSaveChanges: true);
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
