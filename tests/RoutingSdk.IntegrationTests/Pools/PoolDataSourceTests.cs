using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Npgsql;
using RoutingSdk.Health;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Pools;

public enum Mood
{
    Happy,
    Sad,
}

public sealed class PluginProbe
{
    public int Id { get; set; }

    public Mood Mood { get; set; }

    public Instant At { get; set; }

    public LocalDate Day { get; set; }
}

public sealed class PluginDb(DbContextOptions<PluginDb> options) : DbContext(options)
{
    public DbSet<PluginProbe> Probes => Set<PluginProbe>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<PluginProbe>(e =>
        {
            e.ToTable("plugin_probe", "ef_plugins");
            e.Property(p => p.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(p => p.Mood).HasColumnName("mood");
            e.Property(p => p.At).HasColumnName("at");
            e.Property(p => p.Day).HasColumnName("day");
        });
}

/// <summary>One NpgsqlDataSource per pool: data-source features on every node, and MaxPoolSize meaning what it says.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PoolDataSourceTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public async Task InitializeAsync()
    {
        await EfSchema.EnsureAsync(_cluster);
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            CREATE SCHEMA IF NOT EXISTS ef_plugins;
            DO $$ BEGIN CREATE TYPE ef_plugins.mood AS ENUM ('happy', 'sad'); EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            CREATE TABLE IF NOT EXISTS ef_plugins.plugin_probe (id int PRIMARY KEY, mood ef_plugins.mood NOT NULL, at timestamptz NOT NULL, day date NOT NULL);
            """, conn);
        await cmd.ExecuteNonQueryAsync();

        // async1 replays 2 s late: on a fresh cluster the tests' AsyncReplica reads would otherwise meet a missing table
        // (42P01), not merely a missing row.
        await using var async1 = new NpgsqlConnection(_cluster.Async1ConnectionString);
        await async1.OpenAsync();
        await using var exists = new NpgsqlCommand("SELECT to_regclass('ef_plugins.plugin_probe') IS NOT NULL", async1);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(bool)(await exists.ExecuteScalarAsync())!)
        {
            Assert.True(DateTime.UtcNow < deadline, "async1 did not replay the ef_plugins schema within 30 s");
            await Task.Delay(100);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private ServiceProvider PluginServices(NodeProbeInterceptor probe)
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster))
            .ConfigureDataSource(b =>
            {
                b.MapEnum<Mood>("ef_plugins.mood");
                b.UseNodaTime();
            });
        services.AddDbContext<PluginDb>((sp, o) => o
            .UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString, n => n.UseNodaTime().MapEnum<Mood>("mood", "ef_plugins"))
            .UseQueryRouting(sp)
            .AddInterceptors(probe));
        return services.BuildServiceProvider(validateScopes: true);
    }

    [Fact]
    public async Task Enum_and_NodaTime_values_are_written_and_read_through_routed_contexts_on_primary_and_replicas()
    {
        var probe = new NodeProbeInterceptor();
        await using var services = PluginServices(probe);
        var id = Random.Shared.Next(1, int.MaxValue);
        var at = Instant.FromUtc(2026, 11, 22, 10, 30, 15);
        var day = new LocalDate(2026, 11, 22);

        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PluginDb>();
            using var routing = RoutingScope.Begin(RouteKind.MasterOnly);
            db.Probes.Add(new PluginProbe { Id = id, Mood = Mood.Sad, At = at, Day = day });
            await db.SaveChangesAsync();
            var onPrimary = await db.Probes.AsNoTracking().SingleAsync(p => p.Id == id && p.Mood == Mood.Sad);
            Assert.Equal((Mood.Sad, at, day), (onPrimary.Mood, onPrimary.At, onPrimary.Day));
        }

        Assert.All(probe.Seen, s => Assert.Equal("primary", s.Node));
        probe.Clear();

        var replicaNodes = new HashSet<string>();
        for (var i = 0; i < 8; i++)
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PluginDb>();
            using var routing = RoutingScope.Begin(RouteKind.ReadReplica);
            var onReplica = await db.Probes.AsNoTracking().SingleAsync(p => p.Id == id && p.Mood == Mood.Sad && p.Day == day);
            Assert.Equal((Mood.Sad, at, day), (onReplica.Mood, onReplica.At, onReplica.Day));
            replicaNodes.Add(probe.Seen.Last().Node);
        }

        Assert.Subset(new HashSet<string> { "sync1", "sync2" }, replicaNodes);

        // The same data source serves ADO.NET / Dapper code: the mapping works there too, on a replica.
        var dataSource = services.GetRequiredService<RoutingDataSource>();
        using (RoutingScope.Begin(RouteKind.ReadReplica))
        {
            await using var conn = await dataSource.OpenConnectionAsync();
            await using var cmd = new NpgsqlCommand("SELECT mood, at, current_setting('cluster_name') FROM ef_plugins.plugin_probe WHERE id = $1", conn) { Parameters = { new() { Value = id } } };
            await using var reader = await cmd.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal(Mood.Sad, reader.GetFieldValue<Mood>(0));
            Assert.Equal(at, reader.GetFieldValue<Instant>(1));
            Assert.Contains(reader.GetString(2), new[] { "sync1", "sync2" });
        }
    }

    [Fact]
    public async Task Mappings_declared_only_in_UseNpgsql_work_on_every_node()
    {
        // The EF Core provider's documented way, and nothing else: no ConfigureDataSource in AddQueryRouting.
        var probe = new NodeProbeInterceptor();
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster)); // primary, sync1, sync2, async1
        services.AddDbContext<PluginDb>((sp, o) => o
            .UseNpgsql(_cluster.PrimaryConnectionString, n => n.MapEnum<Mood>("mood", "ef_plugins").UseNodaTime())
            .UseQueryRouting(sp)
            .AddInterceptors(probe));
        await using var sp = services.BuildServiceProvider(validateScopes: true);
        var id = Random.Shared.Next(1, int.MaxValue);
        var at = Instant.FromUtc(2026, 12, 2, 8, 15, 0);
        var day = new LocalDate(2026, 12, 2);

        await using (var scope = sp.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PluginDb>();
            db.Probes.Add(new PluginProbe { Id = id, Mood = Mood.Happy, At = at, Day = day });
            await db.SaveChangesAsync();
        }

        var nodes = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!nodes.IsSupersetOf(["primary", "sync1", "sync2", "async1"]))
        {
            Assert.True(DateTime.UtcNow < deadline, $"reached only {string.Join(", ", nodes)} in 60 s");
            foreach (var route in new[] { RouteKind.MasterOnly, RouteKind.ReadReplica, RouteKind.AsyncReplica })
            {
                await using var scope = sp.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<PluginDb>();
                using var routing = RoutingScope.Begin(route);
                probe.Clear();
                var row = await db.Probes.AsNoTracking().Where(p => p.Id == id && p.Mood == Mood.Happy).ToListAsync();
                var node = probe.Seen.Last().Node;
                if (row.Count == 0)
                {
                    Assert.Equal("async1", node); // only the delayed replica may not have the row yet
                    continue;
                }

                Assert.Equal((Mood.Happy, at, day), (row[0].Mood, row[0].At, row[0].Day));
                nodes.Add(node);
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_UseNpgsql_data_source_action_that_changes_the_connection_string_is_refused_with_the_fix()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster));
        services.AddDbContext<PluginDb>((sp, o) => o
            .UseNpgsql(_cluster.PrimaryConnectionString, n => n.UseNodaTime().ConfigureDataSource(b => b.ConnectionStringBuilder.Host = "primary.example"))
            .UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PluginDb>();
        var error = await Assert.ThrowsAsync<RoutingConfigurationException>(() => db.Probes.CountAsync());
        Assert.Contains("changes the connection string", error.Message);
        Assert.Contains("UseNpgsql(...) of PluginDb", error.Message);
    }

    [Fact]
    public async Task MaxPoolSize_bounds_every_connection_RoutingSdk_opens_to_a_node_under_mixed_load()
    {
        const int max = 3;
        var tag = "cap-" + Guid.NewGuid().ToString("N")[..8];
        string Tagged(string cs) => new NpgsqlConnectionStringBuilder(cs) { ApplicationName = tag }.ConnectionString;
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            EfSchema.Pools(o, _cluster);
            foreach (var pool in o.Pools)
            {
                pool.ConnectionString = Tagged(pool.ConnectionString);
                pool.MaxPoolSize = max;
            }
        });
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        var monitor = sp.GetRequiredService<PoolHealthMonitor>();
        var dataSource = sp.GetRequiredService<RoutingDataSource>();

        var peaks = new ConcurrentDictionary<string, long>();
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            var nodes = new[] { ("primary", _cluster.PrimaryConnectionString), ("sync1", _cluster.Sync1ConnectionString), ("sync2", _cluster.Sync2ConnectionString), ("async1", _cluster.Async1ConnectionString) };
            var conns = new List<NpgsqlConnection>();
            foreach (var (_, cs) in nodes)
            {
                var c = new NpgsqlConnection(cs);
                await c.OpenAsync();
                conns.Add(c);
            }

            while (!stop.IsCancellationRequested)
            {
                for (var i = 0; i < nodes.Length; i++)
                {
                    await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", conns[i]) { Parameters = { new() { Value = tag } } };
                    var count = (long)(await cmd.ExecuteScalarAsync())!;
                    peaks.AddOrUpdate(nodes[i].Item1, count, (_, old) => Math.Max(old, count));
                }

                await Task.Delay(5);
            }

            foreach (var c in conns)
            {
                await c.DisposeAsync();
            }
        });

        var workers = Enumerable.Range(0, 12).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                switch ((w + i) % 4)
                {
                    case 0:
                    {
                        await using var scope = sp.CreateAsyncScope();
                        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                        using var routing = RoutingScope.Begin(RouteKind.ReadReplica);
                        _ = await db.Database.SqlQuery<int>($"SELECT 1 AS \"Value\" FROM pg_sleep(0.01)").ToListAsync();
                        break;
                    }

                    case 1:
                    {
                        using var routing = RoutingScope.Begin(RouteKind.ReadReplica);
                        await dataSource.ReadAsync(async (c, ct) =>
                        {
                            await using var cmd = new NpgsqlCommand("SELECT pg_sleep(0.01)", c);
                            return await cmd.ExecuteNonQueryAsync(ct);
                        });
                        break;
                    }

                    case 2:
                    {
                        await using var scope = sp.CreateAsyncScope();
                        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                        await db.Database.ExecuteSqlAsync($"UPDATE ef_routing.mixed_probe SET counter = counter + 1 WHERE id = {1 + (w % 100)}");
                        break;
                    }

                    default:
                        await monitor.RunOnceAsync(CancellationToken.None);
                        break;
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        await stop.CancelAsync();
        await sampler;

        Assert.True(peaks.GetValueOrDefault("primary") >= 1 && peaks.GetValueOrDefault("sync1") + peaks.GetValueOrDefault("sync2") >= 2, $"the load did not reach the nodes: {string.Join(", ", peaks)}");
        Assert.All(peaks, p => Assert.True(p.Value <= max, $"{p.Key} had {p.Value} connections of the pool, above MaxPoolSize = {max}"));
    }
}
