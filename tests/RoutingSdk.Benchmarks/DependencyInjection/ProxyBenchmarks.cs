using BenchmarkDotNet.Attributes;
using Castle.DynamicProxy;
using Microsoft.Extensions.DependencyInjection;

namespace RoutingSdk.Benchmarks.DependencyInjection;

public interface IPriceReport
{
    int Total(int a, int b);
}

[ReadReplica(Category = RoutingCategory.Report)]
public sealed class PriceReport : IPriceReport
{
    public int Total(int a, int b) => a + b;
}

/// <summary>An interceptor that only proceeds: what Castle's proxy costs by itself (invocation object, argument array, boxing).</summary>
public sealed class ProceedOnly : IInterceptor
{
    public void Intercept(IInvocation invocation) => invocation.Proceed();
}

/// <summary>
/// A proxied call against a direct call and against Castle's own cost (a proxy whose interceptor only proceeds).
/// Target: RoutingSdk's interceptor ≤ 250 ns and ≤ 200 B beyond Castle's own invocation.
/// </summary>
[MemoryDiagnoser]
public class ProxyBenchmarks
{
    private IPriceReport _direct = null!;
    private IPriceReport _proxied = null!;
    private IPriceReport _castleOnly = null!;
    private ServiceProvider _provider = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = "Host=127.0.0.1" });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = "Host=127.0.0.2" });
        }).AddRoutedService<IPriceReport, PriceReport>(ServiceLifetime.Singleton);
        _provider = services.BuildServiceProvider();
        _proxied = _provider.GetRequiredService<IPriceReport>();
        _direct = new PriceReport();
        _castleOnly = new ProxyGenerator().CreateInterfaceProxyWithTarget<IPriceReport>(new PriceReport(), new ProceedOnly());
    }

    [GlobalCleanup]
    public void Cleanup() => _provider.Dispose();

    [Benchmark(Baseline = true)]
    public int Direct() => _direct.Total(1, 2);

    [Benchmark]
    public int CastleProceedOnly() => _castleOnly.Total(1, 2);

    [Benchmark]
    public int Proxied() => _proxied.Total(1, 2);
}
