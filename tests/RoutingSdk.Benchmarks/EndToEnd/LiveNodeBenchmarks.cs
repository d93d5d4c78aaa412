using BenchmarkDotNet.Attributes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>
/// One point read by key on the same live node (sync1): plain EF Core against RoutingSdk (read retry on and off).
/// Needs a running cluster (scripts/bench.sh e2e exports the connection strings and runs it).
/// </summary>
[MemoryDiagnoser]
public class LiveNodeBenchmarks
{
    private ServiceProvider _plain = null!;
    private ServiceProvider _routed = null!;
    private ServiceProvider _routedNoRetry = null!;
    private ServiceProvider _routedNoMonitor = null!;
    private int _id;

    private static string Env(string name) => Environment.GetEnvironmentVariable(name)
        ?? throw new InvalidOperationException($"{name} is not set: run this benchmark through scripts/bench.sh e2e.");

    [GlobalSetup]
    public void Setup()
    {
        var sync1 = Env("SYNC1");
        var primary = Env("PRIMARY");
        var plain = new ServiceCollection();
        plain.AddDbContextPool<ShopDb>(o => o.UseNpgsql(sync1));
        _plain = plain.BuildServiceProvider();
        _routed = Routed(primary, sync1, retry: true);
        _routedNoRetry = Routed(primary, sync1, retry: false);
        _routedNoMonitor = Routed(primary, sync1, retry: true, monitor: false);
    }

    internal static ServiceProvider Routed(string primary, string sync1, bool retry, bool monitor = true, bool buffer = false)
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.ReadRetry.Enabled = retry;
            o.ReadRetry.BufferResults = buffer;
            o.Health.Enabled = monitor;
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = primary });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = sync1 });
        });
        services.AddDbContextPool<ShopDb>((sp, o) => o.UseNpgsql(primary).UseQueryRouting(sp));
        return services.BuildServiceProvider();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _plain.Dispose();
        _routed.Dispose();
        _routedNoRetry.Dispose();
        _routedNoMonitor.Dispose();
    }

    private async Task<BenchOrder?> ReadAsync(IServiceProvider services)
    {
        _id = _id % 20_000 + 1;
        await using var scope = services.CreateAsyncScope();
        var id = _id;
        return await scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id);
    }

    [Benchmark(Baseline = true)]
    public Task<BenchOrder?> PlainEfCoreOnSync1() => ReadAsync(_plain);

    [Benchmark]
    public Task<BenchOrder?> RoutedToSync1() => ReadAsync(_routed);

    [Benchmark]
    public Task<BenchOrder?> RoutedToSync1ReadRetryOff() => ReadAsync(_routedNoRetry);

    [Benchmark]
    public Task<BenchOrder?> RoutedToSync1HealthMonitorOff() => ReadAsync(_routedNoMonitor);
}
