using Npgsql;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Infrastructure;

/// <summary>Reads pg_stat_statements on every node: what the servers themselves executed.</summary>
public static class ServerStats
{
    /// <summary>Sum of calls per node of statements whose text matches <paramref name="likePattern"/> (our own stats queries excluded).</summary>
    /// <remarks>The health monitor's checks (marked <c>/* RoutingSdk:health */</c>) are excluded: they run on their own
    /// schedule and would otherwise be counted as the application's statements.
    /// Npgsql's pooled-connection reset (<c>DISCARD ALL</c>) is excluded: it rides on the next query's round trip,
    /// and a reset queued before a measurement window is sent inside it, once per physical pool.</remarks>
    /// <param name="cluster">The cluster.</param>
    /// <param name="likePattern">Statement text pattern.</param>
    /// <param name="user">Only statements run by this login (tests running in parallel use other logins).</param>
    public static async Task<Dictionary<string, long>> CallsAsync(LocalPgCluster cluster, string likePattern, string? user = null)
    {
        var result = new Dictionary<string, long>();
        foreach (var node in LocalPgCluster.Nodes)
        {
            await using var conn = new NpgsqlConnection(cluster.GetConnectionString(node) + ";Pooling=false");
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query ILIKE @p AND query NOT ILIKE '%pg_stat_statements%' AND query NOT ILIKE 'DISCARD ALL%' AND query NOT ILIKE '%RoutingSdk:health%'" +
                (user is null ? "" : " AND userid = (SELECT oid FROM pg_roles WHERE rolname = @u)"), conn);
            cmd.Parameters.AddWithValue("p", likePattern);
            if (user is not null)
            {
                cmd.Parameters.AddWithValue("u", user);
            }

            result[node] = (long)(await cmd.ExecuteScalarAsync())!;
        }

        return result;
    }

    public static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));
}
