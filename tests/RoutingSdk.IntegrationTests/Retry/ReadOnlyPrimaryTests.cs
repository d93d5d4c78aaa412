using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Routing;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Retry;

/// <summary>
/// A primary made read-only on purpose (maintenance: default_transaction_read_only) answers writes with SQLSTATE
/// 25006 like a demoted node would. RoutingSdk asks the node before treating it as a demotion: still a primary, so the
/// write fails at once with a message that says so — no 30 s wait, no eviction, no reconnect storm.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class ReadOnlyPrimaryTests(ClusterFixture fixture) : IAsyncLifetime
{
    private const string Role = "ro_maintenance";
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public async Task InitializeAsync()
    {
        await EfSchema.EnsureAsync(_cluster);
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{Role}') THEN CREATE ROLE {Role} LOGIN PASSWORD '{Role}'; END IF;
            END $$;
            GRANT USAGE ON SCHEMA ef_routing TO {Role};
            GRANT ALL ON ALL TABLES IN SCHEMA ef_routing TO {Role};
            GRANT ALL ON ALL SEQUENCES IN SCHEMA ef_routing TO {Role};
            GRANT pg_monitor TO {Role};
            ALTER ROLE {Role} SET default_transaction_read_only = on;
            """, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_write_refused_by_a_primary_that_is_read_only_on_purpose_fails_at_once_and_evicts_nothing()
    {
        string As(string cs) => new NpgsqlConnectionStringBuilder(cs) { Username = Role, Password = Role }.ConnectionString;
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = As(_cluster.PrimaryConnectionString) });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = As(_cluster.Sync1ConnectionString) });
            o.Failover.PrimaryWaitTimeout = TimeSpan.FromSeconds(5);
        });
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(As(_cluster.PrimaryConnectionString)).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        var router = sp.GetRequiredService<QueryRouter>();
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();

        db.Customers.Add(new Customer { Name = $"maintenance-{Guid.NewGuid():N}" });
        var error = await Assert.ThrowsAsync<RoutingException>(() => db.SaveChangesAsync());
        Assert.IsNotType<PrimaryUnavailableException>(error);
        Assert.Contains("read-only on purpose", error.Message);
        Assert.Contains("default_transaction_read_only = on", error.Message);
        Assert.True(router.Topology.FindPool("WritePool")!.Health.IsAvailable, "a primary that is read-only on purpose was evicted");
    }
}
