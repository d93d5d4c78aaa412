using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.EntityFrameworkCore;

/// <summary>Workload-level proofs from the servers' own statistics (counted per login or table, so tests running in parallel do not disturb them).</summary>
[Collection(FaultCollection.Name)]
public sealed class EfWorkloadTests(ClusterFixture fixture)
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    [Fact]
    public async Task Mixed_workload_of_10k_operations_never_writes_on_a_replica_and_spreads_reads_by_weight()
    {
        await EfSchema.EnsureAsync(_cluster);
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster, sync1Weight: 1, sync2Weight: 3));
        services.AddDbContextPool<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        await using var provider = services.BuildServiceProvider();

        var selectsBefore = await ServerStats.CallsAsync(_cluster, "SELECT%mixed_probe%");
        var updatesBefore = await ServerStats.CallsAsync(_cluster, "UPDATE%mixed_probe%");

        const int operations = 10_000, concurrency = 8;
        var next = -1;
        int reads = 0, writes = 0, readOnlyErrors = 0;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < operations)
            {
                try
                {
                    await using var scope = provider.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                    var id = (i % 100) + 1;
                    if (i % 10 == 0)
                    {
                        await db.MixedProbes.Where(p => p.Id == id).ExecuteUpdateAsync(s => s.SetProperty(p => p.Counter, p => p.Counter + 1));
                        Interlocked.Increment(ref writes);
                    }
                    else
                    {
                        Assert.NotNull(await db.MixedProbes.FirstOrDefaultAsync(p => p.Id == id));
                        Interlocked.Increment(ref reads);
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ReadOnlySqlTransaction)
                {
                    Interlocked.Increment(ref readOnlyErrors);
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
            }
        })));

        Assert.Equal(0, readOnlyErrors);
        Assert.Empty(errors);
        Assert.Equal((9_000, 1_000), (reads, writes));

        var selects = ServerStats.Delta(selectsBefore, await ServerStats.CallsAsync(_cluster, "SELECT%mixed_probe%"));
        var updates = ServerStats.Delta(updatesBefore, await ServerStats.CallsAsync(_cluster, "UPDATE%mixed_probe%"));

        // Writes: all on the primary, none on any replica.
        Assert.Equal(1_000, updates["primary"]);
        Assert.Equal(0, updates["sync1"] + updates["sync2"] + updates["async1"]);

        // Reads: none on the primary or the async replica; sync1:sync2 = 1:3 within ±3 points.
        Assert.Equal(0, selects["primary"]);
        Assert.Equal(0, selects["async1"]);
        Assert.Equal(9_000, selects["sync1"] + selects["sync2"]);
        Assert.InRange(selects["sync1"] / 9_000.0, 0.22, 0.28);
        Assert.InRange(selects["sync2"] / 9_000.0, 0.72, 0.78);
    }

    [Fact]
    public async Task Routing_adds_no_statement_to_a_routed_query()
    {
        await EfSchema.EnsureAsync(_cluster);

        // A login of its own: other test classes run in parallel, and only this test's statements may be counted.
        const string user = "stmt_count";
        await using (var admin = new NpgsqlConnection(_cluster.PrimaryConnectionString))
        {
            await admin.OpenAsync();
            await using var cmd = new NpgsqlCommand($"""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN CREATE ROLE {user} LOGIN PASSWORD '{user}'; END IF;
                END $$;
                GRANT USAGE ON SCHEMA ef_routing TO {user};
                GRANT SELECT ON ALL TABLES IN SCHEMA ef_routing TO {user};
                GRANT pg_monitor TO {user};
                """, admin);
            await cmd.ExecuteNonQueryAsync();
        }

        string As(string cs) => new NpgsqlConnectionStringBuilder(cs) { Username = user, Password = user }.ConnectionString;
        var routedServices = new ServiceCollection();
        routedServices.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = As(_cluster.PrimaryConnectionString) });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = As(_cluster.Sync1ConnectionString) });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = As(_cluster.Sync2ConnectionString) });
        });
        routedServices.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(As(_cluster.PrimaryConnectionString)).UseQueryRouting(sp));
        await using var routed = routedServices.BuildServiceProvider();
        var plainServices = new ServiceCollection();
        plainServices.AddDbContext<ErpTestDb>(o => o.UseNpgsql(As(_cluster.PrimaryConnectionString)));
        await using var plain = plainServices.BuildServiceProvider();

        async Task RunAsync(IServiceProvider sp, int count)
        {
            for (var i = 0; i < count; i++)
            {
                await using var scope = sp.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                Assert.NotNull(await db.RoundtripProbes.FirstOrDefaultAsync(p => p.Id == (i % 10) + 1));
            }
        }

        // Warm both paths (type loading on first use of each pool), then measure everything every node executed.
        await RunAsync(routed, 20);
        await RunAsync(plain, 20);

        const int n = 200;
        var before = await ServerStats.CallsAsync(_cluster, "%", user);
        await RunAsync(routed, n);
        var routedDelta = ServerStats.Delta(before, await ServerStats.CallsAsync(_cluster, "%", user));

        before = await ServerStats.CallsAsync(_cluster, "%", user);
        await RunAsync(plain, n);
        var plainDelta = ServerStats.Delta(before, await ServerStats.CallsAsync(_cluster, "%", user));

        // The same statements reach the servers, one per query; routing only chose where.
        Assert.Equal(n, plainDelta.Values.Sum());
        Assert.Equal(n, routedDelta.Values.Sum());
        Assert.Equal(0, routedDelta["primary"]);
        Assert.Equal(plainDelta["primary"], routedDelta["sync1"] + routedDelta["sync2"]);
    }
}
