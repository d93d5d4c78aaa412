using Npgsql;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Infrastructure;

/// <summary>One real local cluster per test run, shared by every collection.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private static readonly Lazy<Task<LocalPgCluster>> Shared = new(StartSharedAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public LocalPgCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await Shared.Value;

    // The cluster outlives the collection: scripts/test.sh stops it after the whole run.
    public Task DisposeAsync() => Task.CompletedTask;

    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The shared cluster's first port (six from it): ROUTING_PG_PORT_BASE, else 25430 as in scripts/test.sh.</summary>
    public static int PortBase => int.TryParse(Environment.GetEnvironmentVariable("ROUTING_PG_PORT_BASE"), out var port) ? port : 25430;

    /// <summary>The shared cluster's data directory: ROUTING_CLUSTER_DIR, else .cluster-test in the repository.</summary>
    public static string DataDirectory => Environment.GetEnvironmentVariable("ROUTING_CLUSTER_DIR") ?? Path.Combine(RepoRoot, ".cluster-test");

    private static Task<LocalPgCluster> StartSharedAsync() =>
        LocalPgCluster.StartAsync(new LocalPgClusterOptions
        {
            DataDirectory = DataDirectory,
            PortBase = PortBase,
            ScriptPath = Path.Combine(RepoRoot, "scripts", "cluster.sh"),
            OnDispose = LocalPgClusterDisposeAction.KeepRunning,
        });

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RoutingSdk.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find RoutingSdk.sln above the test assembly; run the tests from the repository.");
    }

    /// <summary>Asks a node which node it is, through a fresh unpooled connection.</summary>
    public static async Task<(string ClusterName, bool InRecovery)> WhoAmIAsync(string connectionString)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        await using var conn = new NpgsqlConnection(csb.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT current_setting('cluster_name'), pg_is_in_recovery()", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetString(0), reader.GetBoolean(1));
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>Tests that stop nodes: never in parallel with anything, and they restore the topology in finally.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "faults";
}
