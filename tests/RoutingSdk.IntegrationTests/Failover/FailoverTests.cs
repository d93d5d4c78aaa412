using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.Routing;
using RoutingSdk.Testing;
using Xunit.Abstractions;

namespace RoutingSdk.IntegrationTests.Failover;

/// <summary>
/// A real primary failover under load: Patroni discovery and the HAProxy write VIP. The figures each test prints are
/// the ones docs/operations.md quotes.
/// </summary>
[Collection(HaCollection.Name)]
public sealed class FailoverTests(HaFixture fixture, ITestOutputHelper output)
{
    private readonly LocalHaCluster _cluster = fixture.Cluster;

    private ServiceProvider DiscoveryServices()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Discovery.Patroni.Endpoints.AddRange(_cluster.PatroniEndpoints);
            o.Discovery.Patroni.Template.ConnectionString = HaFixture.TemplateConnectionString;
            o.Failover.PrimaryWaitTimeout = TimeSpan.FromSeconds(30);
        });
        services.AddDbContext<HaDb>((sp, o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp));
        return services.BuildServiceProvider();
    }

    private ServiceProvider VipServices()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = _cluster.WriteVipConnectionString + ";Timeout=3" });
            o.Pools.Add(new RoutingPoolOptions { Name = "ReadPool", Role = PoolRole.SyncReplica, ConnectionString = _cluster.ReadVipConnectionString + ";Timeout=3" });
            o.Failover.PrimaryWaitTimeout = TimeSpan.FromSeconds(30);
        });
        services.AddDbContext<HaDb>((sp, o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp));
        return services.BuildServiceProvider();
    }

    /// <summary>Counts the keys on the current leader (through the write VIP, which follows it), retrying while HAProxy settles.</summary>
    private async Task<int> CountOnLeaderAsync(IReadOnlyCollection<Guid> keys)
    {
        var cs = new NpgsqlConnectionStringBuilder(_cluster.WriteVipConnectionString) { Pooling = false }.ConnectionString;
        for (var i = 0; ; i++)
        {
            try
            {
                await using var conn = new NpgsqlConnection(cs);
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("SELECT count(*) FROM ha.ha_probe WHERE key = ANY($1)", conn) { Parameters = { new() { Value = keys.ToArray() } } };
                return (int)(long)(await cmd.ExecuteScalarAsync())!;
            }
            catch (NpgsqlException) when (i < 60)
            {
                await Task.Delay(500);
            }
        }
    }

    private async Task<Dictionary<string, string>> PatroniRolesAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        foreach (var endpoint in _cluster.PatroniEndpoints)
        {
            try
            {
                using var json = JsonDocument.Parse(await http.GetStringAsync(endpoint + "/cluster"));
                return json.RootElement.GetProperty("members").EnumerateArray()
                    .ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("role").GetString() + ":" + m.GetProperty("state").GetString());
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
        }

        return [];
    }

    [Fact]
    public async Task Leader_killed_under_load_loses_no_acknowledged_write_sends_none_to_a_replica_and_fails_no_read()
    {
        await using var sp = DiscoveryServices();
        var router = sp.GetRequiredService<QueryRouter>();
        var leaderBefore = router.CurrentPrimary?.Name;
        Assert.Equal(await _cluster.GetLeaderAsync(), leaderBefore); // discovery found the real leader at start

        string killed = "";
        var workload = await FailoverWorkload.RunAsync(sp, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(15), async () => killed = await _cluster.KillLeaderAsync());
        output.WriteLine($"kill-leader ({killed}) under Patroni discovery: {workload.Describe()}");
        foreach (var failure in workload.WriteFailures.Take(5))
        {
            output.WriteLine($"  write failure at {failure.At.TotalSeconds:0.0} s: {failure.Error.GetType().Name}: {failure.Error.Message}");
        }

        try
        {
            var acknowledged = workload.Acknowledged.Select(a => a.Key).ToList();
            Assert.True(acknowledged.Count > 100, workload.Describe());
            Assert.Equal(acknowledged.Count, await CountOnLeaderAsync(acknowledged)); // 0 acknowledged writes lost
            Assert.DoesNotContain(workload.WriteFailures, f => FailoverWorkload.IsWriteOnReplica(f.Error)); // 0 writes reached a replica
            Assert.All(workload.WriteFailures, f => Assert.IsType<PrimaryConnectionLostException>(f.Error)); // only writes in flight at the crash
            Assert.Empty(workload.ReadFailures);
            Assert.True(workload.WriteUnavailability() <= TimeSpan.FromSeconds(15), $"no write was acknowledged for {workload.WriteUnavailability().TotalSeconds:0.0} s after the kill (ttl 10 s + 5 s allowed)");
            Assert.NotEqual(killed, router.CurrentPrimary?.Name); // routing follows the new leader without restart or configuration change
            Assert.Equal(await _cluster.GetLeaderAsync(), router.CurrentPrimary?.Name);

            // The old leader returns as a replica; it serves reads again only once Patroni reports it as a synchronous standby.
            var violations = new ConcurrentQueue<string>();
            using var watching = new CancellationTokenSource();
            var watcher = Task.Run(async () =>
            {
                while (!watching.IsCancellationRequested)
                {
                    var ours = router.Topology.FindPool(killed)?.Role;
                    var patroni = await PatroniRolesAsync();
                    if (ours == PoolRole.SyncReplica && patroni.TryGetValue(killed, out var role) && !role.StartsWith("sync_standby", StringComparison.Ordinal))
                    {
                        violations.Enqueue($"RoutingSdk had {killed} as SyncReplica while Patroni reported {role}");
                    }

                    await Task.Delay(100);
                }
            });
            await _cluster.StartNodeAsync(killed);

            // Discovery names it a SyncReplica; the health monitor (started on first use) readmits it once the primary's
            // synchronous_standby_names covers it and two checks in a row are good.
            for (var i = 0; i < 100 && router.Topology.FindPool(killed) is not { Role: PoolRole.SyncReplica, Health.IsAvailable: true }; i++)
            {
                await Task.Delay(100);
            }

            await watching.CancelAsync();
            await watcher;
            Assert.Empty(violations);
            Assert.Equal(PoolRole.SyncReplica, router.Topology.FindPool(killed)?.Role);
            var nodes = new HashSet<string>();
            await using (var scope = sp.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<HaDb>();
                using var routing = RoutingScope.Begin(RouteKind.ReadReplica);
                // Patroni sets cluster_name to the scope on every member: the server's port tells the members apart.
                for (var i = 0; i < 40; i++)
                {
                    nodes.Add((await db.Database.SqlQuery<int>($"SELECT inet_server_port() AS \"Value\"").SingleAsync()).ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
            }

            var back = router.Topology.FindPool(killed);
            Assert.True(
                nodes.Contains(new NpgsqlConnectionStringBuilder(_cluster.GetConnectionString(killed)).Port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                $"{killed} served no read: role {back?.Role}, available {back?.Health.IsAvailable}, problem '{back?.Health.LastProblem}', Patroni: {string.Join(", ", (await PatroniRolesAsync()).Select(r => r.Key + "=" + r.Value))}; reads on {string.Join(",", nodes)}");
        }
        finally
        {
            await _cluster.EnsureHealthyAsync();
        }
    }

    [Fact]
    public async Task Without_discovery_the_monitor_follows_a_promotion_of_a_configured_replica()
    {
        var leader = await _cluster.GetLeaderAsync() ?? throw new InvalidOperationException("no leader");
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            foreach (var node in LocalHaCluster.Nodes)
            {
                o.Pools.Add(new RoutingPoolOptions
                {
                    Name = node, Role = node == leader ? PoolRole.Primary : PoolRole.SyncReplica,
                    ConnectionString = _cluster.GetConnectionString(node) + ";Timeout=3",
                });
            }

            o.Health.Interval = TimeSpan.FromMilliseconds(500);
            o.Failover.PrimaryWaitTimeout = TimeSpan.FromSeconds(40);
        });
        services.AddDbContext<HaDb>((sp, o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        var router = sp.GetRequiredService<QueryRouter>();
        var monitor = sp.GetRequiredService<RoutingSdk.Health.PoolHealthMonitor>();
        await monitor.StartAsync(CancellationToken.None);
        try
        {
            var killed = await _cluster.KillLeaderAsync();
            Assert.Equal(leader, killed);

            // A write issued right after the kill waits for a primary, and lands on the promoted node.
            await using (var scope = sp.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<HaDb>();
                var key = Guid.NewGuid();
                db.Probes.Add(new HaProbe { Key = key, Worker = -1 });
                await db.SaveChangesAsync();
                Assert.Equal(1, await CountOnLeaderAsync([key]));
            }

            var newLeader = await _cluster.GetLeaderAsync();
            Assert.NotNull(newLeader);
            Assert.Equal(newLeader, router.CurrentPrimary?.Name);
            Assert.Equal(PoolRole.SyncReplica, router.Topology.FindPool(killed)!.Role); // reads there only once it is back and covered
            Assert.False(router.Topology.FindPool(killed)!.Health.IsAvailable);
        }
        finally
        {
            await monitor.StopAsync(CancellationToken.None);
            await _cluster.EnsureHealthyAsync();
        }
    }

    [Fact]
    public async Task Planned_switchover_under_load_fails_no_read_and_loses_no_write()
    {
        await using var sp = DiscoveryServices();
        var router = sp.GetRequiredService<QueryRouter>();
        var before = router.CurrentPrimary?.Name;
        var workload = await FailoverWorkload.RunAsync(sp, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(8), () => _cluster.SwitchoverAsync());
        output.WriteLine($"switchover {before} -> {workload.DisruptionResult} under Patroni discovery: {workload.Describe()}");
        foreach (var failure in workload.WriteFailures.Concat(workload.ReadFailures).Take(5))
        {
            output.WriteLine($"  failure at {failure.At.TotalSeconds:0.0} s: {failure.Error.GetType().Name}: {failure.Error.Message}");
        }

        try
        {
            // A write whose commit was waiting for the synchronous replicas when the old primary shut down ends with the
            // connection (PostgreSQL commits locally, warns, and closes): its outcome cannot be known at the protocol
            // level, so RoutingSdk reports it instead of repeating it. Anything else must not fail, and such writes must
            // have survived the switchover.
            Assert.All(workload.WriteFailures, f => Assert.True(f.Error is PrimaryConnectionLostException { CommittedLocally: true }, f.Error.ToString()));
            Assert.Equal(workload.FailedKeys.Count, await CountOnLeaderAsync(workload.FailedKeys.ToList()));
            Assert.Empty(workload.ReadFailures);
            var acknowledged = workload.Acknowledged.Select(a => a.Key).ToList();
            Assert.Equal(acknowledged.Count, await CountOnLeaderAsync(acknowledged));
            Assert.Equal(workload.DisruptionResult, router.CurrentPrimary?.Name);
            Assert.NotEqual(before, router.CurrentPrimary?.Name);
        }
        finally
        {
            await _cluster.EnsureHealthyAsync();
        }
    }

    [Fact]
    public async Task Leader_killed_behind_the_HAProxy_write_VIP_resumes_writes_and_loses_none()
    {
        await using var sp = VipServices();
        string killed = "";
        var workload = await FailoverWorkload.RunAsync(sp, TimeSpan.FromSeconds(40), TimeSpan.FromSeconds(10), async () => killed = await _cluster.KillLeaderAsync());
        output.WriteLine($"kill-leader ({killed}) behind the HAProxy write VIP: {workload.Describe()}");
        foreach (var failure in workload.WriteFailures.Take(5))
        {
            output.WriteLine($"  write failure at {failure.At.TotalSeconds:0.0} s: {failure.Error.GetType().Name}: {failure.Error.Message}");
        }

        try
        {
            var acknowledged = workload.Acknowledged.Select(a => a.Key).ToList();
            Assert.Equal(acknowledged.Count, await CountOnLeaderAsync(acknowledged));
            Assert.DoesNotContain(workload.WriteFailures, f => FailoverWorkload.IsWriteOnReplica(f.Error));
            Assert.True(workload.WriteUnavailability() <= TimeSpan.FromSeconds(20), $"no write was acknowledged for {workload.WriteUnavailability().TotalSeconds:0.0} s after the kill");
            Assert.Contains(workload.Acknowledged, a => a.At > workload.DisruptedAt + TimeSpan.FromSeconds(20)); // and kept going
        }
        finally
        {
            await _cluster.StartNodeAsync(killed);
            await _cluster.EnsureHealthyAsync();
        }
    }
}
