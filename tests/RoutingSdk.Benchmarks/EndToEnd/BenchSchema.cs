using Npgsql;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>The harnesses' table (<see cref="ShopDb"/>): created and filled on the primary when missing.</summary>
internal static class BenchSchema
{
    /// <summary>Orders in <c>bench.bench_orders</c>: ids 1..Orders.</summary>
    public const int Orders = 20_000;

    public static async Task EnsureAsync(string primaryConnectionString, TimeSpan settle)
    {
        await using var conn = new NpgsqlConnection(primaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"""
            CREATE SCHEMA IF NOT EXISTS bench;
            CREATE TABLE IF NOT EXISTS bench.bench_orders ("Id" int PRIMARY KEY, "CustomerId" int NOT NULL, "Total" numeric(12,2) NOT NULL, "Counter" int NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_bench_customer ON bench.bench_orders ("CustomerId");
            INSERT INTO bench.bench_orders SELECT g, 1 + g % 500, round((random() * 1000)::numeric, 2), 0 FROM generate_series(1, {Orders}) g ON CONFLICT DO NOTHING;
            ANALYZE bench.bench_orders;
            """, conn);
        await cmd.ExecuteNonQueryAsync();
        await Task.Delay(settle); // the replicas (the delayed async one too) and the statistics settle
    }
}
