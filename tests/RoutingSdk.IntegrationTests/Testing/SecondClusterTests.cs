using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Testing;

/// <summary>The small shape (primary + sync1) of the second cluster, asked of the real servers.</summary>
[Collection(SecondClusterCollection.Name)]
public sealed class SecondClusterTests(ClusterFixture first, SecondClusterFixture second)
{
    private readonly LocalPgCluster _first = first.Cluster;
    private readonly LocalPgCluster _second = second.Cluster;

    [Theory]
    [InlineData(LocalPgCluster.Primary, "primary", false)]
    [InlineData(LocalPgCluster.Sync1, "sync1", true)]
    public async Task Each_node_answers_as_itself(string node, string expectedName, bool expectedInRecovery)
    {
        var (name, inRecovery) = await ClusterFixture.WhoAmIAsync(_second.GetConnectionString(node));
        Assert.Equal(expectedName, name);
        Assert.Equal(expectedInRecovery, inRecovery);
    }

    [Fact]
    public void Has_the_primary_and_sync1_only()
    {
        Assert.Equal([LocalPgCluster.Primary, LocalPgCluster.Sync1], _second.ConnectionStrings.Keys.Order());
        Assert.NotEqual(_first.PrimaryConnectionString, _second.PrimaryConnectionString);
    }

    [Fact]
    public async Task Primary_waits_for_sync1_alone_with_remote_apply_through_one_slot()
    {
        await using var conn = new NpgsqlConnection(_second.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT current_setting('synchronous_commit'), current_setting('synchronous_standby_names'), " +
            "(SELECT string_agg(application_name || '=' || state || '/' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication), " +
            "(SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots)", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal("remote_apply", reader.GetString(0));
        Assert.Equal("ANY 1 (sync1)", reader.GetString(1));
        Assert.Contains(reader.GetString(2), new[] { "sync1=streaming/sync", "sync1=streaming/quorum" });
        Assert.Equal("sync1", reader.GetString(3));
    }

    [Fact]
    public async Task Sync1_belongs_to_the_second_primary_and_not_to_the_first_cluster()
    {
        var secondPrimary = await SecondClusterFixture.SystemIdentifierAsync(_second.PrimaryConnectionString);
        var secondSync1 = await SecondClusterFixture.SystemIdentifierAsync(_second.Sync1ConnectionString);
        var firstPrimary = await SecondClusterFixture.SystemIdentifierAsync(_first.PrimaryConnectionString);

        Assert.Equal(secondPrimary, secondSync1);
        Assert.NotEqual(firstPrimary, secondPrimary);
    }

    [Fact]
    public async Task Row_committed_on_the_primary_is_visible_on_sync1_at_once()
    {
        const int tries = 300;
        var table = "second_visibility_" + Guid.NewGuid().ToString("N")[..8];
        await using var primary = new NpgsqlConnection(_second.PrimaryConnectionString);
        await primary.OpenAsync();
        await ExecuteAsync(primary, $"CREATE TABLE {table}(id int PRIMARY KEY)"); // remote_apply: sync1 knows it on return
        try
        {
            await using var sync1 = new NpgsqlConnection(_second.Sync1ConnectionString);
            await sync1.OpenAsync();
            var seen = 0;
            for (var i = 1; i <= tries; i++)
            {
                await ExecuteAsync(primary, $"INSERT INTO {table} VALUES ({i})");
                await using var probe = new NpgsqlCommand($"SELECT count(*) FROM {table} WHERE id = {i}", sync1);
                seen += (int)(long)(await probe.ExecuteScalarAsync())!;
            }

            Assert.Equal(tries, seen);
        }
        finally
        {
            await ExecuteAsync(primary, $"DROP TABLE {table}");
        }
    }

    [Fact]
    public async Task Endpoints_the_small_shape_lacks_throw_naming_the_shape_and_the_fix()
    {
        Assert.All(
            new Func<string>[]
            {
                () => _second.Sync2ConnectionString,
                () => _second.Async1ConnectionString,
                () => _second.ReadVipConnectionString,
                () => _second.WriteVipConnectionString,
                () => _second.GetConnectionString(LocalPgCluster.Sync2),
            },
            get =>
            {
                var ex = Assert.Throws<InvalidOperationException>(get);
                Assert.Contains("Small shape", ex.Message);
                Assert.Contains("LocalPgClusterOptions.Shape = LocalPgClusterShape.Full", ex.Message);
            });

        // Refused before the script runs: nothing is stopped.
        var stop = await Assert.ThrowsAsync<InvalidOperationException>(() => _second.StopNodeAsync(LocalPgCluster.Async1));
        Assert.Contains("has no async1", stop.Message);
        Assert.Throws<ArgumentException>(() => _second.GetConnectionString("sync9"));
    }

    [Fact]
    public async Task Starting_its_directory_with_the_full_shape_is_refused_with_both_ways_out()
    {
        var ex = await Assert.ThrowsAsync<LocalPgClusterException>(() => LocalPgCluster.StartAsync(new LocalPgClusterOptions
        {
            Shape = LocalPgClusterShape.Full,
            DataDirectory = _second.DataDirectory,
            PortBase = SecondClusterFixture.PortBase,
            ScriptPath = Path.Combine(ClusterFixture.RepoRoot, "scripts", "cluster.sh"),
            OnDispose = LocalPgClusterDisposeAction.KeepRunning,
        }));
        Assert.Contains("holds a small cluster, but ROUTING_CLUSTER_SHAPE is 'full'", ex.Message);
        Assert.Contains("Set ROUTING_CLUSTER_SHAPE=small", ex.Message);
        Assert.Contains("'scripts/cluster.sh destroy'", ex.Message);

        // Nothing was touched: the small cluster still replicates synchronously.
        var (name, inRecovery) = await ClusterFixture.WhoAmIAsync(_second.Sync1ConnectionString);
        Assert.Equal(("sync1", true), (name, inRecovery));
    }

    private static async Task ExecuteAsync(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
