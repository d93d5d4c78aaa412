using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Testing;

[Collection(ClusterCollection.Name)]
public sealed class TopologyTests(ClusterFixture fixture)
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    [Theory]
    [InlineData(LocalPgCluster.Primary, "primary", false)]
    [InlineData(LocalPgCluster.Sync1, "sync1", true)]
    [InlineData(LocalPgCluster.Sync2, "sync2", true)]
    [InlineData(LocalPgCluster.Async1, "async1", true)]
    [InlineData(LocalPgCluster.WriteVip, "primary", false)]
    public async Task Each_endpoint_answers_as_its_node(string endpoint, string expectedName, bool expectedInRecovery)
    {
        var (name, inRecovery) = await ClusterFixture.WhoAmIAsync(_cluster.GetConnectionString(endpoint));
        Assert.Equal(expectedName, name);
        Assert.Equal(expectedInRecovery, inRecovery);
    }

    [Fact]
    public async Task Primary_is_configured_for_remote_apply_with_a_quorum_of_both_sync_replicas()
    {
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT current_setting('synchronous_commit'), current_setting('synchronous_standby_names'), " +
            "(SELECT string_agg(application_name || '=' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication)", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal("remote_apply", reader.GetString(0));
        Assert.Equal("ANY 2 (sync1, sync2)", reader.GetString(1));
        Assert.Equal("async1=async,sync1=quorum,sync2=quorum", reader.GetString(2));
    }

    [Fact]
    public async Task Read_vip_spreads_unpooled_connections_over_both_sync_replicas_and_not_the_primary()
    {
        var seen = new Dictionary<string, int>();
        for (var i = 0; i < 20; i++)
        {
            var (name, inRecovery) = await ClusterFixture.WhoAmIAsync(_cluster.ReadVipConnectionString);
            Assert.True(inRecovery, $"read VIP connection {i} reached {name}, which is not in recovery");
            seen[name] = seen.GetValueOrDefault(name) + 1;
        }

        Assert.Equal(["sync1", "sync2"], seen.Keys.Order());
        Assert.All(seen.Values, count => Assert.InRange(count, 5, 15));
    }

    [Fact]
    public async Task Write_through_read_vip_fails_with_25006()
    {
        await using var conn = new NpgsqlConnection(_cluster.ReadVipConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("CREATE TEMP TABLE t_should_fail(id int); CREATE TABLE should_fail_on_replica(id int)", conn);
        var ex = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, ex.SqlState);
    }

    [Fact]
    public async Task Row_committed_on_primary_is_visible_on_both_sync_replicas_at_once_but_not_on_async1()
    {
        const int tries = 500;
        var table = "visibility_" + Guid.NewGuid().ToString("N")[..8];
        await using var primary = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await primary.OpenAsync();
        await using (var create = new NpgsqlCommand($"CREATE TABLE {table}(id int PRIMARY KEY)", primary))
        {
            await create.ExecuteNonQueryAsync();
        }

        // The replicas must know the table before the loop starts; async1 lags by design, so wait for it.
        await WaitUntilVisibleAsync(_cluster.Async1ConnectionString, $"SELECT count(*) FROM pg_class WHERE relname = '{table}'");

        await using var sync1 = new NpgsqlConnection(_cluster.Sync1ConnectionString);
        await using var sync2 = new NpgsqlConnection(_cluster.Sync2ConnectionString);
        await using var async1 = new NpgsqlConnection(_cluster.Async1ConnectionString);
        await Task.WhenAll(sync1.OpenAsync(), sync2.OpenAsync(), async1.OpenAsync());

        int sync1Seen = 0, sync2Seen = 0, async1Seen = 0;
        for (var i = 1; i <= tries; i++)
        {
            await using (var insert = new NpgsqlCommand($"INSERT INTO {table} VALUES ({i})", primary))
            {
                await insert.ExecuteNonQueryAsync();
            }

            var probe = $"SELECT count(*) FROM {table} WHERE id = {i}";
            sync1Seen += await CountAsync(sync1, probe);
            sync2Seen += await CountAsync(sync2, probe);
            async1Seen += await CountAsync(async1, probe);
        }

        Assert.Equal(tries, sync1Seen);
        Assert.Equal(tries, sync2Seen);
        Assert.True(async1Seen < tries / 10, $"async1 saw {async1Seen} of {tries} rows at once; its apply delay should hide them");

        await using var drop = new NpgsqlCommand($"DROP TABLE {table}", primary);
        await drop.ExecuteNonQueryAsync();
    }

    private static async Task<int> CountAsync(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (int)(long)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task WaitUntilVisibleAsync(string connectionString, string countSql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await CountAsync(conn, countSql) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "async1 did not replay the table creation within 30 s");
            await Task.Delay(100);
        }
    }
}
