using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Consistency;

/// <summary>
/// Every way an operation can write counts for read-your-writes: an explicit transaction, a connection the caller
/// opened, and plain ADO.NET through RoutingDataSource. async1 replays 2 s late, so a read there right after the write
/// would miss the row; the server's own answer says which node served the read and whether the row was there.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ReadYourWritesTests(ClusterFixture fixture) : IAsyncLifetime
{
    private const int Iterations = 12;
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    private ServiceProvider Services(bool readYourWrites = true) =>
        EfSchema.Services(_cluster, null, o =>
        {
            o.Consistency.ReadYourWrites = readYourWrites;
            o.Consistency.ReadYourWritesMaxWait = TimeSpan.FromMilliseconds(10);
        });

    private static Task<string> CountOnServedNodeAsync(ErpTestDb db, string name) =>
        db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') || ':' || count(*) AS \"Value\" FROM ef_routing.customers WHERE name = {name}").SingleAsync();

    public static TheoryData<string> WriteKinds => new() { "BeginTransaction", "OpenConnection", "RoutingDataSource" };

    private static async Task WriteAsync(string kind, IServiceProvider sp, ErpTestDb db, string name)
    {
        switch (kind)
        {
            case "BeginTransaction":
                await using (var tx = await db.Database.BeginTransactionAsync())
                {
                    db.Customers.Add(new Customer { Name = name });
                    await db.SaveChangesAsync();
                    await tx.CommitAsync();
                }

                db.ChangeTracker.Clear();
                break;
            case "OpenConnection":
                await db.Database.OpenConnectionAsync();
                await db.Database.ExecuteSqlAsync($"INSERT INTO ef_routing.customers(name) VALUES ({name})");
                await db.Database.CloseConnectionAsync();
                break;
            default:
                await using (var conn = await sp.GetRequiredService<RoutingDataSource>().OpenConnectionAsync())
                {
                    await using var cmd = new NpgsqlCommand("INSERT INTO ef_routing.customers(name) VALUES ($1)", conn) { Parameters = { new() { Value = name } } };
                    await cmd.ExecuteNonQueryAsync();
                }

                break;
        }
    }

    [Theory]
    [MemberData(nameof(WriteKinds))]
    public async Task A_later_async_replica_read_of_the_same_operation_sees_the_write(string kind)
    {
        await using var sp = Services();
        var stale = new List<string>();
        for (var i = 0; i < Iterations; i++)
        {
            await using var scope = sp.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            var name = $"ryw-{kind}-{Guid.NewGuid():N}";

            // One operation: it writes (on the primary), then a nested print-form step reads from an async replica.
            using var operation = RoutingScope.Begin(RouteKind.Default, "OrderEntry.SaveAndPrint");
            await WriteAsync(kind, sp, db, name);
            using var print = RoutingScope.Begin(RouteKind.AsyncReplica, "InvoicePrintForm.Print", RoutingCategory.PrintForm);
            var seen = await CountOnServedNodeAsync(db, name);
            if (!seen.EndsWith(":1", StringComparison.Ordinal))
            {
                stale.Add(seen);
            }
        }

        Assert.Empty(stale);
    }

    [Fact]
    public async Task Control_without_read_your_writes_the_async_replica_serves_the_stale_read()
    {
        await using var sp = Services(readYourWrites: false);
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        var name = $"ryw-control-{Guid.NewGuid():N}";
        using var operation = RoutingScope.Begin(RouteKind.Default, "OrderEntry.SaveAndPrint");
        await WriteAsync("BeginTransaction", sp, db, name);
        using var print = RoutingScope.Begin(RouteKind.AsyncReplica);
        Assert.Equal("async1:0", await CountOnServedNodeAsync(db, name));
    }
}
