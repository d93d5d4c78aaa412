using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Routing;
using RoutingSdk.Testing;
using Xunit.Abstractions;

namespace RoutingSdk.IntegrationTests.Health;

/// <summary>
/// A hung node never stalls the application: every process of a synchronous replica is frozen (SIGSTOP) while eight
/// workers read under [ReadReplica]. Connections in use on it are aborted once the health monitor finds it unreachable,
/// and their reads move to the other replica; nothing fails, no worker waits for the command timeout.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class HungNodeTests(ClusterFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(20);
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    private sealed record Read(int Worker, long At, string Node);

    [Fact]
    public async Task Reads_move_off_a_frozen_replica_without_failing_and_return_after_it_thaws()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster)); // health monitor with its defaults
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        var router = sp.GetRequiredService<QueryRouter>();
        var data = sp.GetRequiredService<RoutingDataSource>();

        var reads = new ConcurrentQueue<Read>();
        var failures = new ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();

        // Six workers read through EF Core, two through RoutingDataSource (Dapper / ADO.NET code).
        async Task WorkerAsync(int worker)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    string node;
                    using (RoutingScope.Begin(RouteKind.ReadReplica, "StockReport.Build", RoutingCategory.Report))
                    {
                        if (worker < 6)
                        {
                            await using var scope = sp.CreateAsyncScope();
                            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                            node = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
                        }
                        else
                        {
                            node = await data.ReadAsync(async (c, ct) =>
                            {
                                await using var cmd = new NpgsqlCommand("SELECT current_setting('cluster_name')", c);
                                return (string)(await cmd.ExecuteScalarAsync(ct))!;
                            });
                        }
                    }

                    reads.Enqueue(new Read(worker, clock.ElapsedMilliseconds, node));
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }
            }
        }

        var workers = Enumerable.Range(0, 8).Select(i => Task.Run(() => WorkerAsync(i))).ToArray();
        long frozenAt = 0, thawedAt = 0;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(3)); // warm: both replicas serve, the monitor runs
            Assert.True(failures.IsEmpty, $"{failures.Count} reads failed before the freeze; first: {failures.FirstOrDefault()}");
            Assert.Contains(reads, r => r.Node == "sync1");
            frozenAt = clock.ElapsedMilliseconds;
            await _cluster.PauseNodeAsync(LocalPgCluster.Sync1);
            await Task.Delay(Hang);
        }
        finally
        {
            await _cluster.ResumeNodeAsync(LocalPgCluster.Sync1);
            thawedAt = clock.ElapsedMilliseconds;
        }

        // Back: readmitted by the monitor, and reads reach it again (the server says so).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!reads.Any(r => r.At > thawedAt && r.Node == "sync1") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers);

        double Rate(long from, long to) => reads.Count(r => r.At >= from && r.At < to) * 1000.0 / (to - from);
        var before = Rate(frozenAt - 2_000, frozenAt);
        var during = Rate(frozenAt + 5_000, thawedAt);
        output.WriteLine($"reads/s before the freeze {before:0}, from 5 s after it to the thaw {during:0} ({during / before:P0}); failed {failures.Count}");

        Assert.True(failures.IsEmpty, $"{failures.Count} reads failed:\n{string.Join("\n----\n", failures.Take(3))}");

        // No worker waited out the hang: each completed reads in the window from 5 s after the freeze to the thaw.
        var window = reads.Where(r => r.At >= frozenAt + 5_000 && r.At < thawedAt).ToList();
        Assert.All(Enumerable.Range(0, 8), w => Assert.True(window.Any(r => r.Worker == w), $"worker {w} completed no read while sync1 was frozen"));
        Assert.DoesNotContain(window, r => r.Node == "sync1");
        Assert.True(router.Topology.FindPool("sync1")!.Health.IsAvailable, "sync1 was not readmitted after it thawed");
        Assert.Contains(reads, r => r.At > thawedAt && r.Node == "sync1");
    }

    [Fact]
    public async Task The_read_your_writes_check_on_a_frozen_async_replica_ends_within_its_max_wait()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            EfSchema.Pools(o, _cluster);
            o.Consistency.ReadYourWritesMaxWait = TimeSpan.FromMilliseconds(500);
        });
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        var name = $"gate-{Guid.NewGuid():N}";

        // Warm: async1 serves AsyncReplica reads (its pool holds an idle connection).
        await using (var warm = sp.CreateAsyncScope())
        using (RoutingScope.Begin(RouteKind.AsyncReplica))
        {
            var db = warm.ServiceProvider.GetRequiredService<ErpTestDb>();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync() != "async1")
            {
                Assert.True(DateTime.UtcNow < deadline, "async1 never served an AsyncReplica read");
                await Task.Delay(200);
            }
        }

        string node;
        var thawed = 0;
        await _cluster.PauseNodeAsync(LocalPgCluster.Async1);
        var thaw = Task.Run(async () =>
        {
            await Task.Delay(Hang / 2);
            await _cluster.ResumeNodeAsync(LocalPgCluster.Async1);
            Volatile.Write(ref thawed, 1);
        });
        bool beforeThaw;
        try
        {
            // The operation writes, then reads under [AsyncReplica]: the gate asks frozen async1 whether it replayed
            // the write. That question must end within ReadYourWritesMaxWait, not at a command timeout (30 s).
            await using var scope = sp.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            using (RoutingScope.Begin(RouteKind.AsyncReplica, "Invoice.Print", RoutingCategory.PrintForm))
            {
                db.Customers.Add(new Customer { Name = name });
                await db.SaveChangesAsync();
                node = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') || ':' || count(*) AS \"Value\" FROM ef_routing.customers WHERE name = {name}").SingleAsync();
            }

            beforeThaw = Volatile.Read(ref thawed) == 0;
        }
        finally
        {
            await thaw; // async1 runs again whatever happened
        }

        Assert.True(beforeThaw, $"the read ({node}) waited until async1 was thawed {Hang / 2} after the freeze");
        // Served by a synchronous replica (every commit is there), with the write visible.
        Assert.Matches("^sync[12]:1$", node);
    }
}
