using Npgsql;

namespace ErpReports.Workload;

/// <summary>The servers' own view: pg_stat_statements calls of each operation's tagged queries, on every node.</summary>
public sealed class ServerStatistics(IReadOnlyDictionary<string, string> nodes)
{
    public static readonly string[] Operations = ["OrderEntry", "SalesReport", "InvoicePrint", "CustomerCard", "NightlyReport"];

    public IReadOnlyDictionary<string, string> Nodes { get; } = nodes;

    public async Task<Dictionary<(string Operation, string Node), long>> SnapshotAsync(CancellationToken cancellationToken)
    {
        var result = new Dictionary<(string, string), long>();
        foreach (var (node, connectionString) in Nodes)
        {
            try
            {
                await using var conn = new NpgsqlConnection(connectionString);
                await conn.OpenAsync(cancellationToken);
                foreach (var op in Operations)
                {
                    await using var cmd = new NpgsqlCommand(
                        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE @tag AND query NOT LIKE '%pg_stat_statements%'", conn);
                    cmd.Parameters.AddWithValue("tag", $"%op:{op}%");
                    result[(op, node)] = (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
                }
            }
            catch (NpgsqlException)
            {
                // A node that is down has nothing to report.
            }
        }

        return result;
    }
}
