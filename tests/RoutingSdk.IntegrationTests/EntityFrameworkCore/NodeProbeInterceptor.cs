using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace RoutingSdk.IntegrationTests.EntityFrameworkCore;

/// <summary>
/// Test-only: before each command runs, asks the server on the very same connection (and transaction) which node
/// it is. The answer is the server's, not RoutingSdk's bookkeeping.
/// </summary>
public sealed class NodeProbeInterceptor : DbCommandInterceptor
{
    public ConcurrentQueue<(CommandSource Source, string Node, bool InRecovery, string Sql)> Seen { get; } = new();

    public IReadOnlyList<string> Nodes => Seen.Select(s => s.Node).ToList();

    public void Clear() => Seen.Clear();

    private void Probe(DbCommand command, CommandEventData eventData)
    {
        using var probe = new NpgsqlCommand("SELECT current_setting('cluster_name'), pg_is_in_recovery()", (NpgsqlConnection)command.Connection!, (NpgsqlTransaction?)command.Transaction);
        using var reader = probe.ExecuteReader();
        reader.Read();
        Seen.Enqueue((eventData.CommandSource, reader.GetString(0), reader.GetBoolean(1), command.CommandText));
    }

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Probe(command, eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Probe(command, eventData);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Probe(command, eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Probe(command, eventData);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Probe(command, eventData);
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Probe(command, eventData);
        return ValueTask.FromResult(result);
    }
}
