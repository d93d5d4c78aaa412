using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Tenants;

/// <summary>
/// A tenant moved from one real cluster to the other under a steady write and read load, following the runbook of
/// docs/operations.md: freeze its writes, copy, check, switch the map (a live configuration reload), thaw.
/// </summary>
[Collection(SecondClusterCollection.Name)]
public sealed class TenantMoveTests(ClusterFixture shared, SecondClusterFixture dedicated) : IAsyncLifetime
{
    private const string Tenant = "hooli";
    private readonly TenantTopology _topology = new(shared.Cluster, dedicated.Cluster);

    public async Task InitializeAsync()
    {
        await TenantTopology.EnsureSchemaAsync(shared.Cluster);
        await TenantTopology.EnsureSchemaAsync(dedicated.Cluster);

        // A clean slate for the moved tenant on both clusters (an earlier run may have moved it already).
        foreach (var cluster in new[] { shared.Cluster, dedicated.Cluster })
        {
            await using var conn = new NpgsqlConnection(cluster.PrimaryConnectionString);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("DELETE FROM tenancy.entries WHERE tenant = 'hooli'", conn);
            await cmd.ExecuteNonQueryAsync();
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_tenant_moved_under_load_loses_no_acknowledged_write_and_writes_nothing_on_the_old_cluster_after_the_switch()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings(new Dictionary<string, string?>
        {
            ["Routing:Tenants:Map:hooli"] = TenantTopology.Shared,
            ["Routing:Tenants:FreezeWaitTimeout"] = "00:01:00", // the copy below takes well under a second; no write may give up
        }));
        await using var services = TenantTopology.Services(configuration);
        var tenants = services.GetRequiredService<RoutingTenants>();

        var acknowledged = new ConcurrentBag<Guid>();
        var failures = new ConcurrentBag<Exception>();
        long reads = 0;
        using var stop = new CancellationTokenSource();

        async Task WriteLoop()
        {
            using var tenant = TenantScope.Begin(Tenant);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var scope = services.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
                    var token = Guid.NewGuid();
                    db.Entries.Add(new TenantEntry { Tenant = Tenant, Token = token });
                    await db.SaveChangesAsync();
                    acknowledged.Add(token); // the write returned: it must never be lost
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            }
        }

        async Task ReadLoop()
        {
            using var tenant = TenantScope.Begin(Tenant);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var report = RoutingScope.Begin(RouteKind.ReadReplica, "Tenants.MoveReport", RoutingCategory.Report);
                    await using var scope = services.CreateAsyncScope();
                    await scope.ServiceProvider.GetRequiredService<TenantDb>().Entries.CountAsync(e => e.Tenant == Tenant);
                    Interlocked.Increment(ref reads);
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            }
        }

        var load = Enumerable.Range(0, 4).Select(_ => Task.Run(WriteLoop)).Append(Task.Run(ReadLoop)).ToArray();
        await WaitUntil(() => acknowledged.Count >= 40, "the writers to get going");

        // 1. Freeze: returns once the tenant's running writes here have finished; new ones wait.
        var freeze = await tenants.FreezeWritesAsync(Tenant, TimeSpan.FromSeconds(30));
        var readsAtFreeze = Interlocked.Read(ref reads);

        // 2. Copy the tenant's rows to the new cluster, and 3. check the copy.
        var source = await TenantTopology.EntriesAsync(shared.Cluster, Tenant);
        await using (var conn = new NpgsqlConnection(dedicated.Cluster.PrimaryConnectionString))
        {
            await conn.OpenAsync();
            await using var copy = new NpgsqlCommand("INSERT INTO tenancy.entries(tenant, token) SELECT $1, unnest($2::uuid[]) ON CONFLICT (token) DO NOTHING", conn);
            copy.Parameters.AddWithValue(Tenant);
            copy.Parameters.AddWithValue(source.Select(r => r.Token).ToArray());
            await copy.ExecuteNonQueryAsync();
        }

        Assert.Equal(source.Count, (await TenantTopology.EntriesAsync(dedicated.Cluster, Tenant)).Count);
        Assert.Equal(source.Count, (await TenantTopology.EntriesAsync(shared.Cluster, Tenant)).Count); // frozen: nothing new on the old cluster

        // 4. Switch the map (an edit of appsettings.json, reloaded live), while reads of the tenant continue.
        TenantTopology.Edit(configuration, "Routing:Tenants:Map:hooli", TenantTopology.Dedicated);
        Assert.Equal(TenantTopology.Dedicated, tenants.ClusterOf(Tenant));
        await WaitUntil(() => Interlocked.Read(ref reads) > readsAtFreeze + 5, "reads to continue during the freeze");
        var acknowledgedAtThaw = acknowledged.Count;

        // 5. Thaw: the waiting writes go to the new cluster.
        freeze.Dispose();
        await WaitUntil(() => acknowledged.Count >= acknowledgedAtThaw + 40, "writes to resume on the new cluster");
        await stop.CancelAsync();
        await Task.WhenAll(load);

        Assert.Empty(failures);
        var onDedicated = (await TenantTopology.EntriesAsync(dedicated.Cluster, Tenant)).Select(r => r.Token).ToHashSet();
        var onShared = await TenantTopology.EntriesAsync(shared.Cluster, Tenant);
        Assert.All(acknowledged, token => Assert.Contains(token, onDedicated)); // 0 acknowledged writes lost
        Assert.Equal(source.Count, onShared.Count); // 0 writes on the old cluster after the switch
        Assert.True(onDedicated.Count > source.Count, "writes after the thaw reached the new cluster");
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
