using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Routing;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Health;

/// <summary>
/// A plain ServiceCollection, no generic host (a console tool, a test, a Dapper service): the health monitor starts on
/// the first query, so lag, availability and roles are known as they are under a host.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class NoHostTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => EfSchema.EnsureAsync(_cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    private sealed class Reasons : IRouteDecisionObserver
    {
        public ConcurrentQueue<(string Pool, RouteDecisionReason Reason)> Seen { get; } = new();

        public void OnDecision(in RouteDecision decision) => Seen.Enqueue((decision.PoolName, decision.Reason));
    }

    private (ServiceProvider Provider, Reasons Reasons) Services()
    {
        var reasons = new Reasons();
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster));
        services.AddSingleton<IRouteDecisionObserver>(reasons);
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        return (services.BuildServiceProvider(), reasons);
    }

    private static async Task<(string Node, RouteDecisionReason Reason)> ReadAsync(ServiceProvider sp, Reasons reasons, int maxLag)
    {
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        using var routing = RoutingScope.Begin(RouteKind.AsyncReplica, "InvoicePrintForm.Print", RoutingCategory.PrintForm, maxLagMilliseconds: maxLag);
        reasons.Seen.Clear();
        var node = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
        return (node, reasons.Seen.Last().Reason);
    }

    private static async Task<(string Node, RouteDecisionReason Reason)> UntilAsync(Func<Task<(string Node, RouteDecisionReason Reason)>> read, Func<(string Node, RouteDecisionReason Reason), bool> done, string what)
    {
        var seen = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var result = await read();
            seen.Add($"{result.Node}/{result.Reason}");
            if (done(result))
            {
                return result;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{what} did not happen within 20 s; seen: {string.Join(", ", seen.TakeLast(10))}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Async_replica_reads_reach_async1_within_seconds_without_a_host()
    {
        var (sp, reasons) = Services();
        await using (sp)
        {
            var first = await ReadAsync(sp, reasons, 60_000);
            // The very first read may come before the monitor's first round: then its reason says so.
            Assert.True(first.Node == "async1" || first.Reason == RouteDecisionReason.LagUnknown, $"{first}");
            var reached = await UntilAsync(() => ReadAsync(sp, reasons, 60_000), r => r.Node == "async1", "a read on async1");
            Assert.Equal(RouteDecisionReason.AsyncReplicaRequested, reached.Reason);
        }
    }

    [Fact]
    public async Task A_lag_limit_below_the_apply_delay_falls_back_with_LagAboveLimit_without_a_host()
    {
        var (sp, reasons) = Services();
        await using (sp)
        {
            using var stop = new CancellationTokenSource();
            var writer = Task.Run(async () =>
            {
                // async1 replays 2 s late: while writes keep coming, its measured lag stays above 500 ms.
                await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
                await conn.OpenAsync();
                while (!stop.IsCancellationRequested)
                {
                    await using var cmd = new NpgsqlCommand("UPDATE ef_routing.mixed_probe SET counter = counter + 1 WHERE id = 100", conn);
                    await cmd.ExecuteNonQueryAsync();
                    await Task.Delay(100);
                }
            });
            try
            {
                var result = await UntilAsync(() => ReadAsync(sp, reasons, 500), r => r.Reason == RouteDecisionReason.LagAboveLimit, "LagAboveLimit");
                Assert.Contains(result.Node, new[] { "sync1", "sync2" });
            }
            finally
            {
                await stop.CancelAsync();
                await writer;
            }
        }
    }

    [Fact]
    public async Task A_stopped_async_replica_falls_back_as_unavailable_without_a_host()
    {
        var (sp, reasons) = Services();
        await using (sp)
        {
            await UntilAsync(() => ReadAsync(sp, reasons, 60_000), r => r.Node == "async1", "a read on async1");
            await _cluster.StopNodeAsync(LocalPgCluster.Async1);
            try
            {
                var result = await UntilAsync(() => ReadAsync(sp, reasons, 60_000), r => r.Reason == RouteDecisionReason.AsyncReplicasUnavailable, "AsyncReplicasUnavailable");
                Assert.Contains(result.Node, new[] { "sync1", "sync2" });
            }
            finally
            {
                await _cluster.StartNodeAsync(LocalPgCluster.Async1);
            }
        }
    }

    [Fact]
    public async Task With_VerifyTopologyAtStart_Fail_and_no_host_the_monitor_still_runs_and_evicts_an_uncovered_sync_pool()
    {
        // async1 configured as a SyncReplica: no commit waits for it, so its reads could miss rows. Start-up
        // verification fails; without a host nothing can stop the application, so the monitor must still evict it.
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "primary", Role = PoolRole.Primary, ConnectionString = _cluster.PrimaryConnectionString });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = _cluster.Sync1ConnectionString });
            o.Pools.Add(new RoutingPoolOptions { Name = "wrong", Role = PoolRole.SyncReplica, ConnectionString = _cluster.Async1ConnectionString });
            o.Health.VerifyTopologyAtStart = TopologyVerification.Fail;
        });
        var log = new ConcurrentQueue<string>();
        services.AddLogging(b => b.AddProvider(new QueueLogger(log)));
        await using var sp = services.BuildServiceProvider();
        var data = sp.GetRequiredService<RoutingDataSource>();
        var router = sp.GetRequiredService<QueryRouter>();

        async Task<string> ReadAsync()
        {
            using var scope = RoutingScope.Begin(RouteKind.ReadReplica);
            return await data.ReadAsync(async (c, ct) =>
            {
                await using var cmd = new NpgsqlCommand("SELECT current_setting('cluster_name')", c);
                return (string)(await cmd.ExecuteScalarAsync(ct))!;
            });
        }

        await ReadAsync(); // the first decision starts the monitor
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (router.Topology.FindPool("wrong")!.Health.IsAvailable)
        {
            Assert.True(DateTime.UtcNow < deadline, "the monitor never evicted the uncovered SyncReplica pool: it is not running. Log:\n" + string.Join("\n", log));
            await Task.Delay(100);
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("sync1", await ReadAsync());
        }
    }

    /// <summary>Keeps what RoutingSdk logged, for the failure message.</summary>
    private sealed class QueueLogger(ConcurrentQueue<string> log) : Microsoft.Extensions.Logging.ILoggerProvider, Microsoft.Extensions.Logging.ILogger
    {
        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Information;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log.Enqueue($"{logLevel}: {formatter(state, exception)} {exception?.GetType().Name} {exception?.Message}");
    }
}
