using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.Health;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Routing;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Health;

/// <summary>
/// The asynchronous replica's lag after the cluster was idle: one new write must not read as "behind by the whole
/// idle stretch" (that sent AsyncReplica reads to the fallback for no reason). Runs alone (fault collection): nothing
/// else writes during the idle stretch.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class ReplayLagTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task One_write_after_an_idle_stretch_reads_as_seconds_of_lag_not_the_idle_time()
    {
        await using var sp = EfSchema.Services(_cluster, null, o => o.Health.Enabled = true);
        var monitor = sp.GetRequiredService<PoolHealthMonitor>();
        var async1 = sp.GetRequiredService<QueryRouter>().Topology.FindPool("async1")!;

        // Idle long enough that the time since async1's last replayed transaction is clearly larger than its delay.
        var idle = TimeSpan.FromSeconds(9);
        var caughtUp = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        do
        {
            await Task.Delay(500);
            await monitor.RunOnceAsync(CancellationToken.None);
        }
        while (async1.Health.LagBytes != 0 && DateTime.UtcNow < caughtUp);
        Assert.Equal(0, async1.Health.LagBytes);
        await Task.Delay(idle);

        // A check sees async1 caught up at the end of the idle stretch (background commits, e.g. autovacuum on a fresh
        // cluster, are replayed only after async1's apply delay: wait for a check that finds nothing missing).
        do
        {
            await monitor.RunOnceAsync(CancellationToken.None);
        }
        while (async1.Health.LagBytes != 0 && DateTime.UtcNow < caughtUp + idle);
        Assert.Equal(0, async1.Health.LagBytes);

        await using (var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString))
        {
            await conn.OpenAsync();
            await using var write = new NpgsqlCommand("UPDATE ef_routing.roundtrip_probe SET id = id WHERE id = 10", conn);
            await write.ExecuteNonQueryAsync();
        }

        await monitor.RunOnceAsync(CancellationToken.None);
        Assert.True(async1.Health.LagBytes > 0, "async1 replays with a delay: it must still be behind the new write");
        var lag = async1.Health.LagMilliseconds;
        Assert.True(lag < idle.TotalMilliseconds / 2, $"async1's lag read {lag:F0} ms right after one write following a {idle.TotalSeconds:F0} s idle stretch");
    }
}
