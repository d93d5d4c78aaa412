using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
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

    /// <summary>
    /// The same-node point read, one worker: a read by a random key (seed 17) under a <c>ReadReplica</c> scope, each in a
    /// scope of its own, for <paramref name="length"/>; each latency (ms) is added to <paramref name="latencies"/>.
    /// Returns the time it ran.
    /// </summary>
    public static async Task<TimeSpan> PointReadsAsync(IServiceProvider services, TimeSpan length, List<double> latencies)
    {
        var random = new Random(17);
        var clock = Stopwatch.StartNew();
        using (RoutingScope.Begin(RouteKind.ReadReplica))
        {
            while (clock.Elapsed < length)
            {
                await using var scope = services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
                var id = 1 + random.Next(Orders);
                var started = Stopwatch.GetTimestamp();
                _ = await db.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        return clock.Elapsed;
    }
}
