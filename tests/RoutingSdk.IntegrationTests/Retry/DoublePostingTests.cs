using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Retry;

/// <summary>
/// A posting function called as a query (the way ERP code calls stored procedures) is a write the router cannot see
/// in the SQL. When its backend dies while the COMMIT waits for the synchronous replicas, it has committed locally:
/// never run again, reported as <see cref="PrimaryConnectionLostException"/> with <c>CommittedLocally</c>.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class DoublePostingTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public async Task InitializeAsync()
    {
        await EfSchema.EnsureAsync(_cluster);
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            CREATE TABLE IF NOT EXISTS ef_routing.postings (id bigserial PRIMARY KEY, invoice int NOT NULL);
            CREATE OR REPLACE FUNCTION ef_routing.post_invoice(invoice int) RETURNS int LANGUAGE sql AS
              $$ INSERT INTO ef_routing.postings(invoice) VALUES (invoice) RETURNING 1 $$;
            """, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public static TheoryData<string> Calls => ["MasterOnly scope", "OnPrimary()"];

    [Theory]
    [MemberData(nameof(Calls))]
    public async Task A_posting_function_whose_commit_was_cut_is_not_run_again(string call)
    {
        var invoice = Random.Shared.Next(1, int.MaxValue);
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster));
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();

        Task<int> posting;
        try
        {
            // No synchronous replica: every COMMIT on the primary waits in SyncRep until one comes back.
            await _cluster.StopNodeAsync(LocalPgCluster.Sync1);
            await _cluster.StopNodeAsync(LocalPgCluster.Sync2);

            posting = Task.Run(async () =>
            {
                var query = db.Database.SqlQuery<int>($"SELECT ef_routing.post_invoice({invoice}) AS \"Value\"");
                if (call == "OnPrimary()")
                {
                    return await query.OnPrimary().SingleAsync();
                }

                using (RoutingScope.Begin(RouteKind.MasterOnly, "Invoice.Post"))
                {
                    return await query.SingleAsync();
                }
            });

            var pid = await WaitForSyncRepWaitAsync(posting);
            await TerminateAsync(pid); // what a Patroni switchover or a fast shutdown does to a waiting commit

            // A re-run would wait in SyncRep again until the replicas return; give the answer a bounded time first.
            await Task.WhenAny(posting, Task.Delay(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            await _cluster.StartNodeAsync(LocalPgCluster.Sync1);
            await _cluster.StartNodeAsync(LocalPgCluster.Sync2);
        }

        var error = await Assert.ThrowsAsync<PrimaryConnectionLostException>(() => posting);
        Assert.True(error.CommittedLocally, error.ToString());
        Assert.Equal(1L, await CountAsync(invoice));

        // The commit notice was reported with that failure: the same context's next write succeeds, not re-reported.
        db.Customers.Add(new Customer { Name = $"after-posting-{invoice}" });
        Assert.Equal(1, await db.SaveChangesAsync());
    }

    private async Task<int> WaitForSyncRepWaitAsync(Task posting)
    {
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query LIKE '%post_invoice%' AND pid <> pg_backend_pid() LIMIT 1", conn);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (posting.IsCompleted)
            {
                await posting; // surfaces why it ended before waiting for the replicas
                Assert.Fail("the posting completed although no synchronous replica was running");
            }

            if (await cmd.ExecuteScalarAsync() is int pid)
            {
                return pid;
            }

            await Task.Delay(50);
        }

        Assert.Fail("the posting never waited for the synchronous replicas (no SyncRep wait in pg_stat_activity)");
        return 0;
    }

    private async Task TerminateAsync(int pid)
    {
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", conn);
        cmd.Parameters.AddWithValue("pid", pid);
        Assert.Equal(true, await cmd.ExecuteScalarAsync());
    }

    private async Task<long> CountAsync(int invoice)
    {
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM ef_routing.postings WHERE invoice = @i", conn);
        cmd.Parameters.AddWithValue("i", invoice);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
