using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Tenants;

/// <summary>A row of one tenant; the same table exists on both clusters, so a statement on the wrong one would succeed and show.</summary>
public sealed class TenantEntry
{
    public long Id { get; set; }

    public string Tenant { get; set; } = "";

    public Guid Token { get; set; }
}

public sealed class TenantDb(DbContextOptions<TenantDb> options) : DbContext(options)
{
    public DbSet<TenantEntry> Entries => Set<TenantEntry>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<TenantEntry>(e =>
        {
            e.ToTable("entries", "tenancy");
            e.Property(p => p.Id).HasColumnName("id");
            e.Property(p => p.Tenant).HasColumnName("tenant");
            e.Property(p => p.Token).HasColumnName("token");
        });
}

/// <summary>Where a statement ran, asked of the server that ran it.</summary>
public sealed record ServerIdentity(long SystemIdentifier, string Node, bool InRecovery);

/// <summary>
/// Two real clusters: "shared" (the full local topology: primary, sync1, sync2, async1) and "dedicated" (the small one:
/// primary, sync1). Tenants acme and globex live on shared, initech on dedicated. The configuration is an in-memory
/// provider, so tests edit the map and reload it live as an operator would edit appsettings.json.
/// </summary>
public sealed class TenantTopology
{
    public const string Shared = "shared";
    public const string Dedicated = "dedicated";

    /// <summary>Per-tenant tables on every node of both clusters: the tenant's name in the SQL, counted by pg_stat_statements.</summary>
    public static readonly string[] TaggedTenants = ["acme", "globex", "initech", "hooli", "umbrella", "nobody"];

    public static readonly string[] SharedNodes = [LocalPgCluster.Primary, LocalPgCluster.Sync1, LocalPgCluster.Sync2, LocalPgCluster.Async1];

    public static readonly string[] DedicatedNodes = [LocalPgCluster.Primary, LocalPgCluster.Sync1];

    public TenantTopology(LocalPgCluster shared, LocalPgCluster dedicated)
    {
        SharedCluster = shared;
        DedicatedCluster = dedicated;
    }

    public LocalPgCluster SharedCluster { get; }

    public LocalPgCluster DedicatedCluster { get; }

    public static async Task EnsureSchemaAsync(LocalPgCluster cluster)
    {
        await using var conn = new NpgsqlConnection(cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        var ddl = "CREATE SCHEMA IF NOT EXISTS tenancy; CREATE TABLE IF NOT EXISTS tenancy.entries (id bigserial PRIMARY KEY, tenant text NOT NULL, token uuid NOT NULL UNIQUE);"
            + string.Concat(TaggedTenants.Select(t => $"CREATE TABLE IF NOT EXISTS tenancy.t_{t} (id int PRIMARY KEY); INSERT INTO tenancy.t_{t} VALUES (1) ON CONFLICT DO NOTHING;"));
        await using var cmd = new NpgsqlCommand(ddl, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>The tenancy schema on both clusters, replayed on every node; returns the clusters' system identifiers (shared, dedicated), which differ.</summary>
    public async Task<(long Shared, long Dedicated)> PrepareAsync()
    {
        await EnsureSchemaAsync(SharedCluster);
        await EnsureSchemaAsync(DedicatedCluster);
        var ids = (await SystemIdentifierAsync(SharedCluster), await SystemIdentifierAsync(DedicatedCluster));
        Assert.NotEqual(ids.Item1, ids.Item2);
        await WaitForSchemaOnEveryNodeAsync(SharedCluster, DedicatedCluster);
        return ids;
    }

    /// <summary>Waits until every node of both clusters has replayed the tenancy schema (at most 60 s per node).</summary>
    public static async Task WaitForSchemaOnEveryNodeAsync(LocalPgCluster shared, LocalPgCluster dedicated)
    {
        foreach (var (cluster, nodes) in new[] { (shared, SharedNodes), (dedicated, DedicatedNodes) })
        {
            foreach (var node in nodes)
            {
                var deadline = DateTime.UtcNow.AddSeconds(60);
                await using var conn = new NpgsqlConnection(cluster.GetConnectionString(node));
                await conn.OpenAsync();
                while (true)
                {
                    await using var cmd = new NpgsqlCommand($"SELECT to_regclass('tenancy.t_{TaggedTenants[^1]}') IS NOT NULL AND to_regclass('tenancy.entries') IS NOT NULL", conn);
                    if ((bool)(await cmd.ExecuteScalarAsync())!)
                    {
                        break;
                    }

                    Assert.True(DateTime.UtcNow < deadline, $"{node} did not replay the tenancy schema within 60 s");
                    await Task.Delay(100);
                }
            }
        }
    }

    /// <summary>The configuration keys of both clusters and the map; <paramref name="extra"/> adds or overrides keys.</summary>
    public Dictionary<string, string?> Settings(IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Routing:Clusters:shared:Pools:0:Name"] = "primary",
            ["Routing:Clusters:shared:Pools:0:Role"] = "Primary",
            ["Routing:Clusters:shared:Pools:0:ConnectionString"] = SharedCluster.PrimaryConnectionString,
            ["Routing:Clusters:shared:Pools:1:Name"] = "sync1",
            ["Routing:Clusters:shared:Pools:1:ConnectionString"] = SharedCluster.Sync1ConnectionString,
            ["Routing:Clusters:shared:Pools:2:Name"] = "sync2",
            ["Routing:Clusters:shared:Pools:2:ConnectionString"] = SharedCluster.Sync2ConnectionString,
            ["Routing:Clusters:shared:Pools:3:Name"] = "async1",
            ["Routing:Clusters:shared:Pools:3:Role"] = "AsyncReplica",
            ["Routing:Clusters:shared:Pools:3:ConnectionString"] = SharedCluster.Async1ConnectionString,
            ["Routing:Clusters:dedicated:Pools:0:Name"] = "primary",
            ["Routing:Clusters:dedicated:Pools:0:Role"] = "Primary",
            ["Routing:Clusters:dedicated:Pools:0:ConnectionString"] = DedicatedCluster.PrimaryConnectionString,
            ["Routing:Clusters:dedicated:Pools:1:Name"] = "sync1",
            ["Routing:Clusters:dedicated:Pools:1:ConnectionString"] = DedicatedCluster.Sync1ConnectionString,
            ["Routing:Tenants:Map:acme"] = Shared,
            ["Routing:Tenants:Map:globex"] = Shared,
            ["Routing:Tenants:Map:initech"] = Dedicated,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>An application: routing from <paramref name="configuration"/>'s Routing section, TenantDb through EF Core.</summary>
    public static ServiceProvider Services(IConfigurationRoot configuration, bool pooled = false)
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(configuration.GetSection("Routing"));
        void Options(IServiceProvider sp, DbContextOptionsBuilder o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp);
        if (pooled)
        {
            services.AddDbContextPool<TenantDb>(Options, poolSize: 1);
        }
        else
        {
            services.AddDbContext<TenantDb>(Options);
        }

        return services.BuildServiceProvider(validateScopes: true);
    }

    public static IConfigurationRoot Configuration(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

    /// <summary>Sets one key and reloads, as an edit of appsettings.json would.</summary>
    public static void Edit(IConfigurationRoot configuration, string key, string? value)
    {
        configuration[key] = value;
        configuration.Reload();
    }

    public const string IdentitySql =
        "SELECT system_identifier AS \"SystemIdentifier\", current_setting('cluster_name') AS \"Node\", pg_is_in_recovery() AS \"InRecovery\" FROM pg_control_system()";

    public static async Task<long> SystemIdentifierAsync(LocalPgCluster cluster)
    {
        await using var conn = new NpgsqlConnection(cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT system_identifier FROM pg_control_system()", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// pg_stat_statements calls of statements naming tenancy.t_&lt;tenant&gt;, summed over every node of a cluster (each
    /// node counts what it ran).
    /// </summary>
    public static async Task<Dictionary<string, long>> TaggedCallsAsync(LocalPgCluster cluster, IEnumerable<string> nodes)
    {
        var result = TaggedTenants.ToDictionary(t => t, _ => 0L);
        foreach (var node in nodes)
        {
            var csb = new NpgsqlConnectionStringBuilder(cluster.GetConnectionString(node)) { Pooling = false };
            await using var conn = new NpgsqlConnection(csb.ConnectionString);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT substring(query from 'tenancy\\.t_([a-z]+)'), sum(calls)::bigint FROM pg_stat_statements WHERE query ~ 'tenancy\\.t_[a-z]+' GROUP BY 1", conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                if (!reader.IsDBNull(0) && result.ContainsKey(reader.GetString(0)))
                {
                    result[reader.GetString(0)] += reader.GetInt64(1);
                }
            }
        }

        return result;
    }

    public static async Task<List<(string Tenant, Guid Token)>> EntriesAsync(LocalPgCluster cluster, string? tenant = null)
    {
        await using var conn = new NpgsqlConnection(cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT tenant, token FROM tenancy.entries WHERE $1::text IS NULL OR tenant = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        var rows = new List<(string, Guid)>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetGuid(1)));
        }

        return rows;
    }
}
