using System.Data.Common;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>
/// Bytes allocated per point read on sync1, one thread, after warm-up: plain EF Core, plain EF Core with empty
/// interceptors of each kind RoutingSdk registers (what EF Core's event data costs by itself), and RoutingSdk with read
/// retry on and off. <c>dotnet run -c Release --project tests/RoutingSdk.Benchmarks -- alloc</c> with SYNC1/PRIMARY exported.
/// </summary>
public static class AllocationBreakdown
{
    private const int Reads = 4_000;

    private sealed class NoOpConnectionInterceptor : DbConnectionInterceptor;

    private sealed class NoOpCommandInterceptor : DbCommandInterceptor;

    public static async Task<string> RunAsync(string primary, string sync1)
    {
        var setups = new (string Name, ServiceProvider Services, RouteKind Route)[]
        {
            ("plain EF Core", Plain(sync1), RouteKind.ReadReplica),
            ("plain + empty DbConnectionInterceptor", Plain(sync1, new NoOpConnectionInterceptor()), RouteKind.ReadReplica),
            ("plain + empty DbCommandInterceptor", Plain(sync1, new NoOpCommandInterceptor()), RouteKind.ReadReplica),
            ("plain + both empty interceptors", Plain(sync1, new NoOpConnectionInterceptor(), new NoOpCommandInterceptor()), RouteKind.ReadReplica),
            ("RoutingSdk to sync1, ReadRetry off", Routed(primary, sync1, retry: false), RouteKind.ReadReplica),
            ("RoutingSdk to sync1, ReadRetry on (default: rows buffered)", Routed(primary, sync1, retry: true), RouteKind.ReadReplica),
            ("RoutingSdk to the primary under MasterOnly, ReadRetry on", Routed(primary, sync1, retry: true), RouteKind.MasterOnly),
        };
        var sb = new StringBuilder("| set-up | bytes per point read | over plain |\n|---|---|---|\n");
        double? baseline = null;
        foreach (var (name, services, route) in setups)
        {
            Console.Error.WriteLine($"  {name}…");
            await using (services)
            {
                using (RoutingScope.Begin(route))
                {
                    await ReadManyAsync(services, 500);
                    var before = GC.GetAllocatedBytesForCurrentThread();
                    await ReadManyAsync(services, Reads);
                    var perRead = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Reads;
                    baseline ??= perRead;
                    sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {perRead:F0} | {perRead - baseline.Value:+0;-0;0} |");
                }
            }
        }

        return sb.ToString();
    }

    // Synchronous reads: every byte lands on this thread, so GetAllocatedBytesForCurrentThread counts them all.
    private static Task ReadManyAsync(IServiceProvider services, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var scope = services.CreateScope();
            var id = 1 + i % 20_000;
            _ = scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.AsNoTracking().FirstOrDefault(o => o.Id == id);
        }

        return Task.CompletedTask;
    }

    private static ServiceProvider Plain(string cs, params IInterceptor[] interceptors)
    {
        var services = new ServiceCollection();
        services.AddDbContextPool<ShopDb>(o => o.UseNpgsql(cs).AddInterceptors(interceptors));
        return services.BuildServiceProvider();
    }

    private static ServiceProvider Routed(string primary, string sync1, bool retry) => LiveNodeBenchmarks.Routed(primary, sync1, retry);
}
