using Npgsql;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Infrastructure;

/// <summary>
/// The second local cluster of a test run (issue 22, tenants across clusters): the small shape, a primary and one
/// synchronous replica <c>sync1</c> (<c>remote_apply</c>, <c>ANY 1</c>), no HAProxy, on ports and a directory of its
/// own next to <see cref="ClusterFixture"/>'s full topology. Started once per run and shared, like that one.
/// </summary>
/// <remarks>
/// Its nodes answer to the same <c>cluster_name</c>s as the first cluster's (<c>primary</c>, <c>sync1</c>): tell the
/// clusters apart by <see cref="SystemIdentifierAsync"/>.
/// </remarks>
public sealed class SecondClusterFixture : IAsyncLifetime
{
    private static readonly Lazy<Task<LocalPgCluster>> Shared = new(StartSharedAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public LocalPgCluster Cluster { get; private set; } = null!;

    /// <summary>Npgsql connection string of the second cluster's primary.</summary>
    public string PrimaryConnectionString => Cluster.PrimaryConnectionString;

    /// <summary>Npgsql connection string of the second cluster's synchronous replica.</summary>
    public string Sync1ConnectionString => Cluster.Sync1ConnectionString;

    public async Task InitializeAsync() => Cluster = await Shared.Value;

    // The cluster outlives the collection: scripts/test.sh stops it after the whole run.
    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>
    /// First of its two ports: ROUTING_PG2_PORT_BASE, else eight above the first cluster's base (which uses six from
    /// it), as in scripts/test.sh.
    /// </summary>
    public static int PortBase =>
        int.TryParse(Environment.GetEnvironmentVariable("ROUTING_PG2_PORT_BASE"), out var port) ? port : ClusterFixture.PortBase + 8;

    /// <summary>Its data directory: ROUTING_CLUSTER2_DIR, else the first cluster's directory with "-b" appended, as in scripts/test.sh.</summary>
    public static string DataDirectory =>
        Environment.GetEnvironmentVariable("ROUTING_CLUSTER2_DIR") is { Length: > 0 } dir ? dir : ClusterFixture.DataDirectory + "-b";

    private static Task<LocalPgCluster> StartSharedAsync() =>
        LocalPgCluster.StartAsync(new LocalPgClusterOptions
        {
            Shape = LocalPgClusterShape.Small,
            DataDirectory = DataDirectory,
            PortBase = PortBase,
            ScriptPath = Path.Combine(ClusterFixture.RepoRoot, "scripts", "cluster.sh"),
            OnDispose = LocalPgClusterDisposeAction.KeepRunning,
        });

    /// <summary>
    /// The PostgreSQL cluster a node belongs to (<c>pg_control_system().system_identifier</c>, set by initdb and kept
    /// by every replica taken from it), through a fresh unpooled connection.
    /// </summary>
    public static async Task<long> SystemIdentifierAsync(string connectionString)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        await using var conn = new NpgsqlConnection(csb.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT system_identifier FROM pg_control_system()", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}

/// <summary>Tests on the second cluster, with the first one at hand (to tell the two apart).</summary>
[CollectionDefinition(Name)]
public sealed class SecondClusterCollection : ICollectionFixture<ClusterFixture>, ICollectionFixture<SecondClusterFixture>
{
    public const string Name = "second cluster";
}
