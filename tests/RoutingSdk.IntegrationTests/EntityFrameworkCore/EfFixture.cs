using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.EntityFrameworkCore;

/// <summary>Schema and seed data for the EF Core tests, created once per run on the shared cluster.</summary>
public static class EfSchema
{
    private static readonly SemaphoreSlim Lock = new(1, 1);
    private static bool _ready;

    public const int SeedCustomerId = 1;

    public static async Task EnsureAsync(LocalPgCluster cluster)
    {
        await Lock.WaitAsync();
        try
        {
            if (_ready)
            {
                return;
            }

            await using var conn = new NpgsqlConnection(cluster.PrimaryConnectionString);
            await conn.OpenAsync();
            await using (var ddl = new NpgsqlCommand(ErpTestDb.Ddl, conn))
            {
                await ddl.ExecuteNonQueryAsync();
            }

            await using (var seed = new NpgsqlCommand("""
                INSERT INTO ef_routing.customers(id, name) VALUES (1, 'Seed customer') ON CONFLICT DO NOTHING;
                SELECT setval(pg_get_serial_sequence('ef_routing.customers', 'id'), GREATEST(1000, (SELECT max(id) FROM ef_routing.customers)));
                INSERT INTO ef_routing.orders(id, customer_id, total) VALUES (1, 1, 10), (2, 1, 20) ON CONFLICT DO NOTHING;
                SELECT setval(pg_get_serial_sequence('ef_routing.orders', 'id'), GREATEST(1000, (SELECT max(id) FROM ef_routing.orders)));
                INSERT INTO ef_routing.mixed_probe SELECT g, 0 FROM generate_series(1, 100) g ON CONFLICT DO NOTHING;
                INSERT INTO ef_routing.roundtrip_probe SELECT g, 'row ' || g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING;
                """, conn))
            {
                await seed.ExecuteNonQueryAsync();
            }

            // async1 replays with a delay: wait until it has the seed too.
            await using var async1 = new NpgsqlConnection(cluster.Async1ConnectionString);
            await async1.OpenAsync();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                await using var check = new NpgsqlCommand("SELECT to_regclass('ef_routing.roundtrip_probe') IS NOT NULL AND EXISTS (SELECT 1 FROM ef_routing.roundtrip_probe WHERE id = 10)", async1);
                try
                {
                    if ((bool)(await check.ExecuteScalarAsync())!)
                    {
                        break;
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable || e.SqlState == "3F000")
                {
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException("async1 did not replay the EF test schema within 60 s");
                }

                await Task.Delay(100);
            }

            _ready = true;
        }
        finally
        {
            Lock.Release();
        }
    }

    /// <summary>Pools of the local cluster: primary, sync1 and sync2 (weights given), async1.</summary>
    public static void Pools(RoutingOptions o, LocalPgCluster cluster, double sync1Weight = 1, double sync2Weight = 1)
    {
        o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = cluster.PrimaryConnectionString, Priority = 1 });
        o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = cluster.Sync1ConnectionString, Priority = 100, UsageRatio = sync1Weight });
        o.Pools.Add(new RoutingPoolOptions { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = cluster.Sync2ConnectionString, Priority = 100, UsageRatio = sync2Weight });
        o.Pools.Add(new RoutingPoolOptions { Name = "async1", Role = PoolRole.AsyncReplica, ConnectionString = cluster.Async1ConnectionString });
    }

    public static ServiceProvider Services(LocalPgCluster cluster, NodeProbeInterceptor? probe, Action<RoutingOptions>? configure = null, string registration = "AddDbContext")
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            Pools(o, cluster);
            configure?.Invoke(o);
        });

        void Options(IServiceProvider sp, DbContextOptionsBuilder o)
        {
            o.UseNpgsql(cluster.PrimaryConnectionString).UseQueryRouting(sp);
            if (probe is not null)
            {
                o.AddInterceptors(probe);
            }
        }

        switch (registration)
        {
            case "AddDbContext":
                services.AddDbContext<ErpTestDb>(Options);
                break;
            case "AddDbContextPool":
                services.AddDbContextPool<ErpTestDb>(Options);
                break;
            case "AddPooledDbContextFactory":
                services.AddPooledDbContextFactory<ErpTestDb>(Options);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(registration));
        }

        return services.BuildServiceProvider(validateScopes: true);
    }
}
