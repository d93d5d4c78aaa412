using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.Health;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Routing;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Health;

/// <summary>Which replicas may serve reads, judged from the real primary; and what must never evict a healthy replica.</summary>
[Collection(FaultCollection.Name)]
public sealed class QuorumAndEvictionTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task SetStandbyNamesAsync(string value)
    {
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using (var set = new NpgsqlCommand($"ALTER SYSTEM SET synchronous_standby_names = '{value}'", conn))
        {
            await set.ExecuteNonQueryAsync();
        }

        await using var reload = new NpgsqlCommand("SELECT pg_reload_conf()", conn);
        await reload.ExecuteNonQueryAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            await using var check = new NpgsqlCommand("SELECT current_setting('synchronous_standby_names')", conn);
            if ((string)(await check.ExecuteScalarAsync())! == value)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "the primary did not reload synchronous_standby_names");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_quorum_smaller_than_the_replicas_evicts_them_and_start_up_verification_says_why()
    {
        await using var sp = EfSchema.Services(_cluster, null);
        var monitor = sp.GetRequiredService<PoolHealthMonitor>();
        var router = sp.GetRequiredService<QueryRouter>();
        await monitor.RunOnceAsync(CancellationToken.None);
        Assert.True(router.Topology.FindPool("sync1")!.Health.IsAvailable);

        try
        {
            await SetStandbyNamesAsync("ANY 1 (sync1, sync2)");
            await monitor.RunOnceAsync(CancellationToken.None);
            foreach (var name in new[] { "sync1", "sync2" })
            {
                var health = router.Topology.FindPool(name)!.Health;
                Assert.False(health.IsAvailable, $"{name} stayed in the read pool under ANY 1");
                Assert.Contains("ANY 1 (sync1, sync2)", health.LastProblem);
                Assert.Contains("could miss committed rows", health.LastProblem);
            }

            using (RoutingScope.Begin(RouteKind.ReadReplica))
            {
                Assert.Equal(RouteDecisionReason.ReplicasUnavailable, router.Decide(RouteRequest.Read, RoutingScope.Current).Reason);
            }

            var problems = await monitor.VerifyTopologyAsync(CancellationToken.None);
            Assert.Contains(problems, p => p.StartsWith("SyncReplica pool 'sync1': node 'sync1' may miss committed rows: synchronous_standby_names is 'ANY 1 (sync1, sync2)'", StringComparison.Ordinal));
        }
        finally
        {
            await SetStandbyNamesAsync("ANY 2 (sync1, sync2)");
        }

        // Back to a quorum that covers both: readmitted after the configured number of good checks.
        for (var i = 0; i < 5 && !router.Topology.FindPool("sync1")!.Health.IsAvailable; i++)
        {
            await monitor.RunOnceAsync(CancellationToken.None);
        }

        Assert.True(router.Topology.FindPool("sync1")!.Health.IsAvailable);
        Assert.True(router.Topology.FindPool("sync2")!.Health.IsAvailable);
    }

    [Fact]
    public async Task A_full_pool_or_a_client_timeout_on_a_replica_is_the_callers_error_and_evicts_nothing()
    {
        await using var sp = EfSchema.Services(_cluster, null, o =>
        {
            o.Pools.RemoveAll(p => p.Name == "sync2");
            var sync1 = o.Pools.Single(p => p.Name == "sync1");
            sync1.MaxPoolSize = 1;
            sync1.PoolTimeoutSeconds = 1;
        });
        var router = sp.GetRequiredService<QueryRouter>();
        var dataSource = sp.GetRequiredService<RoutingDataSource>();
        var sync1 = router.Topology.FindPool("sync1")!;

        using var routing = RoutingScope.Begin(RouteKind.ReadReplica, "StockReport.Build", RoutingCategory.Report);
        await using (var held = await dataSource.OpenConnectionAsync())
        {
            Assert.Equal("sync1", await Scalar(held, "SELECT current_setting('cluster_name')"));
            var full = await Assert.ThrowsAsync<NpgsqlException>(() => dataSource.ReadAsync((c, ct) => Scalar(c, "SELECT 1", ct)));
            Assert.Contains("pool", full.Message);
            Assert.True(sync1.Health.IsAvailable, "a full pool evicted the replica");

            // The health monitor shares the full pool: its check must not take "no free connection" for a dead node.
            await sp.GetRequiredService<PoolHealthMonitor>().RunOnceAsync(CancellationToken.None);
            Assert.True(sync1.Health.IsAvailable, $"the monitor evicted a replica whose pool was only full: {sync1.Health.LastProblem}");
        }

        // A report that outlives its command timeout: the caller's choice of timeout, not a dead node.
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        db.Database.SetCommandTimeout(1);
        var slow = await Assert.ThrowsAnyAsync<Exception>(() => db.Database.SqlQuery<int>($"SELECT 1 AS \"Value\" FROM pg_sleep(3)").ToListAsync());
        Assert.IsNotType<ReplicaReadCancelledException>(slow);
        Assert.True(sync1.Health.IsAvailable, "a client timeout evicted the replica");
        Assert.Equal(PoolRole.SyncReplica, router.Decide(RouteRequest.Read, RoutingScope.Current).PoolRole);
    }

    [Fact]
    public async Task A_failure_on_the_primary_inside_a_strategy_delegate_does_not_evict_the_replica_that_served_an_earlier_read()
    {
        await using var sp = EfSchema.Services(_cluster, null);
        var router = sp.GetRequiredService<QueryRouter>();
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        var strategy = db.Database.CreateExecutionStrategy();
        var replicas = new List<string>();
        var runs = 0;
        await strategy.ExecuteAsync(async () =>
        {
            runs++;
            using (RoutingScope.Begin(RouteKind.ReadReplica))
            {
                replicas.Add(await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync());
            }

            using (RoutingScope.Begin(RouteKind.MasterOnly))
            {
                // The first run: the primary ends this backend (57P01), a failure of the primary's connection, not of
                // the replica. Only reads ran, so the delegate runs again once the primary answers.
                var sql = runs == 1 ? "SELECT pg_terminate_backend(pg_backend_pid()) AS \"Value\"" : "SELECT true AS \"Value\"";
                _ = await db.Database.SqlQueryRaw<bool>(sql).ToListAsync();
            }
        });

        Assert.Equal(2, runs);
        Assert.All(replicas, r => Assert.Contains(r, new[] { "sync1", "sync2" })); // the re-run read from a replica, not the primary
        Assert.All(replicas, r => Assert.True(router.Topology.FindPool(r)!.Health.IsAvailable, $"{r} was evicted for the primary's failure"));
    }

    private static async Task<string> Scalar(NpgsqlConnection connection, string sql, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return (await cmd.ExecuteScalarAsync(cancellationToken))!.ToString()!;
    }
}
