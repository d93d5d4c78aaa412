using Microsoft.EntityFrameworkCore;
using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Failover;

/// <summary>One Patroni-managed HA cluster per test run (etcd + three nodes + HAProxy), for the failover tests.</summary>
public sealed class HaFixture : IAsyncLifetime
{
    private static readonly Lazy<Task<LocalHaCluster>> Shared = new(StartSharedAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public LocalHaCluster Cluster { get; private set; } = null!;

    public const string TemplateConnectionString = "Database=routing;Username=routing;Password=routing;Timeout=3;Command Timeout=30";

    public async Task InitializeAsync()
    {
        Cluster = await Shared.Value;
        await Cluster.EnsureHealthyAsync(); // a previous test may have left a member stopped
        await using var conn = new NpgsqlConnection(Cluster.WriteVipConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(HaDb.Ddl, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    // The cluster outlives the collection: scripts/test.sh stops it after the whole run.
    public Task DisposeAsync() => Task.CompletedTask;

    private static Task<LocalHaCluster> StartSharedAsync() =>
        LocalHaCluster.StartAsync(new LocalHaClusterOptions
        {
            DataDirectory = Environment.GetEnvironmentVariable("ROUTING_HA_DIR") ?? Path.Combine(ClusterFixture.RepoRoot, ".ha-test"),
            PortBase = int.TryParse(Environment.GetEnvironmentVariable("ROUTING_HA_PORT_BASE"), out var port) ? port : 25450,
            ScriptPath = Path.Combine(ClusterFixture.RepoRoot, "scripts", "ha-cluster.sh"),
            OnDispose = LocalPgClusterDisposeAction.KeepRunning,
        });
}

/// <summary>Failover tests act on the real processes: never in parallel with anything else (timing is part of what they show).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HaCollection : ICollectionFixture<HaFixture>
{
    public const string Name = "ha";
}

public sealed class HaProbe
{
    public Guid Key { get; set; }

    public int Worker { get; set; }
}

public sealed class HaDb(DbContextOptions<HaDb> options) : DbContext(options)
{
    public DbSet<HaProbe> Probes => Set<HaProbe>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<HaProbe>(e =>
        {
            e.ToTable("ha_probe", "ha");
            e.HasKey(p => p.Key);
            e.Property(p => p.Key).HasColumnName("key").ValueGeneratedNever();
            e.Property(p => p.Worker).HasColumnName("worker");
        });

    public const string Ddl = """
        CREATE SCHEMA IF NOT EXISTS ha;
        CREATE TABLE IF NOT EXISTS ha.ha_probe (key uuid PRIMARY KEY, worker int NOT NULL);
        """;
}
