using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Retry;

/// <summary>Read-shaped writes (nextval, FOR UPDATE) on a replica: one clear error, never a silent re-run; .OnPrimary() as the way out.</summary>
[Collection(ClusterCollection.Name)]
public sealed class WriteOnReplicaTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task<long> SequenceValueAsync(LocalPgCluster cluster)
    {
        await using var conn = new NpgsqlConnection(cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT last_value FROM ef_routing.orders_id_seq", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Nextval_in_a_replica_routed_query_fails_with_the_fix_and_is_not_repeated()
    {
        await using var sp = EfSchema.Services(_cluster, null);
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        var before = await SequenceValueAsync(_cluster);
        using var routing = RoutingScope.Begin(RouteKind.ReadReplica, "OrderNumbers.Reserve");
        var ex = await Assert.ThrowsAsync<WriteOnReplicaException>(() =>
            db.Database.SqlQuery<long>($"SELECT nextval('ef_routing.orders_id_seq') AS \"Value\"").SingleAsync());
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, ex.PostgresError.SqlState);
        Assert.Contains(ex.PoolName, new[] { "sync1", "sync2" });
        Assert.Contains(".OnPrimary()", ex.Message);
        Assert.Contains("not repeated on the primary automatically", ex.Message);
        Assert.Equal(before, await SequenceValueAsync(_cluster)); // nothing ran anywhere else
    }

    [Fact]
    public async Task OnPrimary_sends_the_query_to_the_primary_inside_a_replica_route()
    {
        await using var sp = EfSchema.Services(_cluster, null);
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        using var routing = RoutingScope.Begin(RouteKind.ReadReplica, "OrderNumbers.Reserve");
        for (var i = 0; i < 6; i++)
        {
            var answer = await db.Database.SqlQuery<string>(
                $"SELECT current_setting('cluster_name') || ':' || nextval('ef_routing.orders_id_seq') AS \"Value\"").OnPrimary().SingleAsync();
            Assert.StartsWith("primary:", answer);

            // The same context's other reads still go to the replicas.
            var other = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
            Assert.Contains(other, new[] { "sync1", "sync2" });
        }

        var locked = await db.Orders.FromSql($"SELECT * FROM ef_routing.orders WHERE id = 1 FOR UPDATE").OnPrimary().ToListAsync();
        Assert.Single(locked);
    }

    [Fact]
    public async Task Dapper_style_read_that_writes_fails_with_the_fix_and_runs_once()
    {
        await using var sp = EfSchema.Services(_cluster, null);
        var dataSource = sp.GetRequiredService<RoutingDataSource>();
        using var routing = RoutingScope.Begin(RouteKind.ReadReplica);
        var calls = 0;
        var ex = await Assert.ThrowsAsync<WriteOnReplicaException>(() => dataSource.ReadAsync(async (c, ct) =>
        {
            calls++;
            await using var cmd = new NpgsqlCommand("SELECT nextval('ef_routing.orders_id_seq')", c);
            return await cmd.ExecuteScalarAsync(ct);
        }));
        Assert.Equal(1, calls);
        Assert.Contains("RouteKind.MasterOnly", ex.Message);
    }
}
