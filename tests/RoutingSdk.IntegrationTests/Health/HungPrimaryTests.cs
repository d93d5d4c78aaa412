using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;
using Xunit.Abstractions;

namespace RoutingSdk.IntegrationTests.Health;

/// <summary>
/// A hung primary never stalls the application: every process of the primary is frozen (SIGSTOP). A statement in
/// flight there ends as <see cref="PrimaryConnectionLostException"/> once the health monitor finds the primary
/// unreachable, never run again; writes started during the hang end with <see cref="PrimaryUnavailableException"/>
/// within <c>Failover.PrimaryWaitTimeout</c> — none waits for its command timeout or for the thaw — while reads
/// under [ReadReplica] go on; after the thaw writes succeed again.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class HungPrimaryTests(ClusterFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(25);
    private static readonly TimeSpan PrimaryWait = TimeSpan.FromSeconds(6);
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    private sealed record Outcome(string Worker, long Started, long Ended, Exception? Error);

    [Fact]
    public async Task Writes_on_a_frozen_primary_end_within_the_primary_wait_and_reads_go_on()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            EfSchema.Pools(o, _cluster); // health monitor with its defaults
            o.Failover.PrimaryWaitTimeout = PrimaryWait;
        });
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        var data = sp.GetRequiredService<RoutingDataSource>();
        var tag = $"hung-primary-{Guid.NewGuid():N}";

        var outcomes = new ConcurrentQueue<Outcome>();
        var reads = new ConcurrentQueue<(int Worker, long At, string Node)>();
        var readFailures = new ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();

        async Task Timed(string worker, Func<Task> write)
        {
            var started = clock.ElapsedMilliseconds;
            Exception? error = null;
            try
            {
                await write();
            }
            catch (Exception ex)
            {
                error = ex;
            }

            outcomes.Enqueue(new Outcome(worker, started, clock.ElapsedMilliseconds, error));
        }

        // Two EF Core writers (SaveChanges), one ADO.NET writer (a RoutingDataSource connection: the primary).
        async Task WriterAsync(int worker)
        {
            while (!stop.IsCancellationRequested)
            {
                await Timed($"writer {worker}", async () =>
                {
                    if (worker < 2)
                    {
                        await using var scope = sp.CreateAsyncScope();
                        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                        db.Customers.Add(new Customer { Name = tag });
                        await db.SaveChangesAsync();
                    }
                    else
                    {
                        await using var conn = await data.OpenConnectionAsync();
                        await using var cmd = new NpgsqlCommand("INSERT INTO ef_routing.customers(name) VALUES (@n)", conn);
                        cmd.Parameters.AddWithValue("n", tag);
                        await cmd.ExecuteNonQueryAsync();
                    }
                });
                await Task.Delay(20);
            }
        }

        async Task ReaderAsync(int worker)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using (RoutingScope.Begin(RouteKind.ReadReplica, "StockReport.Build", RoutingCategory.Report))
                    {
                        await using var scope = sp.CreateAsyncScope();
                        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                        var node = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
                        reads.Enqueue((worker, clock.ElapsedMilliseconds, node));
                    }
                }
                catch (Exception ex)
                {
                    readFailures.Enqueue(ex);
                }
            }
        }

        var workers = Enumerable.Range(0, 3).Select(i => Task.Run(() => WriterAsync(i)))
            .Concat(Enumerable.Range(0, 2).Select(i => Task.Run(() => ReaderAsync(i)))).ToArray();
        long frozenAt = 0, thawedAt = 0;
        Task inFlight;
        try
        {
            // Warm: every writer succeeds (the first EF Core write builds the model), the monitor runs.
            var warm = DateTime.UtcNow.AddSeconds(30);
            while (outcomes.Where(o => o.Error is null).Select(o => o.Worker).Distinct().Count() < 3 && DateTime.UtcNow < warm)
            {
                await Task.Delay(100);
            }

            Assert.True(outcomes.All(o => o.Error is null), $"writes failed before the freeze: {outcomes.FirstOrDefault(o => o.Error is not null)?.Error}");
            await Task.Delay(TimeSpan.FromSeconds(1));

            // A statement in flight on the primary when it freezes: under [MasterOnly] it may write (a posting function),
            // so its outcome is unknown — reported, never run again.
            inFlight = Timed("in flight", async () =>
            {
                await using var scope = sp.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                using (RoutingScope.Begin(RouteKind.MasterOnly, "Invoice.Post"))
                {
                    await db.Database.SqlQuery<int>($"SELECT 1 AS \"Value\" FROM pg_sleep(120)").SingleAsync();
                }
            });
            await WaitUntilRunningAsync();
            await _cluster.PauseNodeAsync(LocalPgCluster.Primary);
            frozenAt = clock.ElapsedMilliseconds; // every process is stopped once the script returns
            await Task.Delay(Hang);
        }
        finally
        {
            await _cluster.ResumeNodeAsync(LocalPgCluster.Primary);
            thawedAt = clock.ElapsedMilliseconds;
        }

        // Back: a write succeeds again once the monitor readmits the primary.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!outcomes.Any(o => o.Started > thawedAt && o.Error is null) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers);
        await inFlight;

        var all = outcomes.ToList();
        foreach (var o in all.Where(o => o.Ended > frozenAt && o.Started < thawedAt).OrderBy(o => o.Started))
        {
            output.WriteLine($"{o.Worker}: started {o.Started - frozenAt} ms after the freeze, ended after {o.Ended - o.Started} ms: {o.Error?.GetType().Name ?? "ok"}");
        }

        var pending = all.Single(o => o.Worker == "in flight");
        Assert.True(pending.Error is PrimaryConnectionLostException, $"the statement in flight ended with {pending.Error?.ToString() ?? "success"}");
        Assert.True(pending.Ended < thawedAt, "the statement in flight waited for the thaw");

        // Every write started during the hang (early enough to run out its primary wait before the thaw) ended while the
        // primary was still frozen, with RoutingSdk's exception — not a command timeout, not at the thaw.
        var mustEnd = all.Where(o => o.Worker != "in flight" && o.Started >= frozenAt && o.Started < thawedAt - (long)(PrimaryWait + TimeSpan.FromSeconds(4)).TotalMilliseconds).ToList();
        Assert.NotEmpty(mustEnd);
        Assert.All(mustEnd, o =>
        {
            Assert.True(o.Ended < thawedAt, $"{o.Worker}: a write started {o.Started - frozenAt} ms after the freeze waited for the thaw");
            // EF Core's writes are judged by RoutingSdk: typed. A connection the application opened itself (ADO.NET) runs
            // its statements without RoutingSdk: aborted, it ends with Npgsql's own connection error (and a log line).
            var expected = o.Worker == "writer 2"
                ? o.Error is PrimaryUnavailableException or NpgsqlException { InnerException: IOException }
                : o.Error is PrimaryUnavailableException or PrimaryConnectionLostException;
            Assert.True(expected, $"{o.Worker}: {o.Error?.ToString() ?? "succeeded on a frozen primary"}");
        });
        Assert.Contains(all, o => o.Started > thawedAt && o.Error is null);

        // Reads never needed the primary.
        Assert.True(readFailures.IsEmpty, $"{readFailures.Count} reads failed:\n{string.Join("\n----\n", readFailures.Take(3))}");
        var window = reads.Where(r => r.At >= frozenAt + 5_000 && r.At < thawedAt).ToList();
        Assert.All(Enumerable.Range(0, 2), w => Assert.True(window.Any(r => r.Worker == w), $"reader {w} completed no read while the primary was frozen"));
        Assert.All(window, r => Assert.StartsWith("sync", r.Node));
    }

    private async Task WaitUntilRunningAsync()
    {
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()", conn);
            if ((long)(await cmd.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "the statement never started on the primary");
            await Task.Delay(50);
        }
    }
}
