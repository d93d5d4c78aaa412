using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Consistency;

/// <summary>Consistency.CommitTimeout bounds the COMMIT's wait for the synchronous replicas, never the statement itself.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CommitTimeoutTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_write_statement_longer_than_the_commit_timeout_completes_and_commits()
    {
        await using var sp = EfSchema.Services(_cluster, null, o => o.Consistency.CommitTimeout = TimeSpan.FromSeconds(1));
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        var name = $"slow-{Guid.NewGuid():N}";

        // 2 s of work in one autocommit statement, twice the commit timeout.
        var rows = await db.Database.ExecuteSqlAsync($"INSERT INTO ef_routing.customers(name) SELECT {name} FROM pg_sleep(2)");
        Assert.Equal(1, rows);

        var updated = await db.Customers.Where(c => c.Name == name).ExecuteUpdateAsync(s => s.SetProperty(c => c.Name, c => c.Name + "-updated"));
        Assert.Equal(1, updated);

        using (RoutingScope.Begin(RouteKind.ReadReplica))
        {
            // remote_apply: the replicas have it once the commit returned.
            Assert.Equal(1, await db.Customers.CountAsync(c => c.Name == name + "-updated"));
        }

        // A single-statement SaveChanges gets its own transaction too, and the user's setting comes back afterwards.
        db.Customers.Add(new Customer { Name = name + "-saved" });
        await db.SaveChangesAsync();
        Assert.Equal(AutoTransactionBehavior.WhenNeeded, db.Database.AutoTransactionBehavior);
        Assert.Equal(1, await db.Customers.CountAsync(c => c.Name == name + "-saved"));
    }

    [Fact]
    public async Task A_cancelled_write_leaves_no_transaction_behind_for_the_next_one()
    {
        await using var sp = EfSchema.Services(_cluster, null, o => o.Consistency.CommitTimeout = TimeSpan.FromSeconds(1));
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        var name = $"cancelled-{Guid.NewGuid():N}";

        // The write runs in a CommitTimeout transaction of its own; the caller cancels it mid-statement.
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                db.Database.ExecuteSqlAsync($"INSERT INTO ef_routing.customers(name) SELECT {name} FROM pg_sleep(5)", cancel.Token));
        }

        Assert.Null(db.Database.CurrentTransaction);

        // The next write commits on its own: visible to another connection, not held in a leftover transaction.
        Assert.Equal(1, await db.Database.ExecuteSqlAsync($"INSERT INTO ef_routing.customers(name) VALUES ({name + "-next"})"));
        await using var other = new Npgsql.NpgsqlConnection(_cluster.PrimaryConnectionString);
        await other.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM ef_routing.customers WHERE name LIKE @n", other);
        count.Parameters.AddWithValue("n", name + "%");
        Assert.Equal(1L, (long)(await count.ExecuteScalarAsync())!);
    }
}
