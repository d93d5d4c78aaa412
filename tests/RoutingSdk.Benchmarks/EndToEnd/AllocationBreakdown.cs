using System.Data.Common;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>
/// Bytes allocated per point read on sync1, one thread, after warm-up: plain EF Core, plain EF Core with empty
/// interceptors of each kind RoutingSdk registers (what EF Core's event data costs by itself), and RoutingSdk with the
/// defaults, read retry off and results buffered. <c>dotnet run -c Release --project tests/RoutingSdk.Benchmarks -- alloc</c> with SYNC1/PRIMARY exported.
/// </summary>
public static class AllocationBreakdown
{
    private const int Reads = 4_000;

    internal sealed class NoOpConnectionInterceptor : DbConnectionInterceptor;

    internal sealed class NoOpCommandInterceptor : DbCommandInterceptor;

    public static async Task<string> RunAsync(string primary, string sync1)
    {
        await BenchSchema.EnsureAsync(primary, TimeSpan.FromSeconds(2));
        var setups = new (string Name, ServiceProvider Services, RouteKind Route)[]
        {
            ("plain EF Core", Plain(sync1), RouteKind.ReadReplica),
            ("plain + empty DbConnectionInterceptor", Plain(sync1, new NoOpConnectionInterceptor()), RouteKind.ReadReplica),
            ("plain + empty DbCommandInterceptor", Plain(sync1, new NoOpCommandInterceptor()), RouteKind.ReadReplica),
            ("plain + both empty interceptors", Plain(sync1, new NoOpConnectionInterceptor(), new NoOpCommandInterceptor()), RouteKind.ReadReplica),
            ("RoutingSdk to sync1, defaults (read retry on, rows stream)", Routed(primary, sync1, retry: true), RouteKind.ReadReplica),
            ("RoutingSdk to sync1, ReadRetry off", Routed(primary, sync1, retry: false), RouteKind.ReadReplica),
            ("RoutingSdk to sync1, ReadRetry.BufferResults on (rows buffered)", Routed(primary, sync1, retry: true, buffer: true), RouteKind.ReadReplica),
            ("RoutingSdk to the primary under MasterOnly, defaults", Routed(primary, sync1, retry: true), RouteKind.MasterOnly),
        };
        var sb = new StringBuilder("| set-up | bytes per point read (sync) | over plain | bytes per point read (async) | over plain |\n|---|---|---|---|---|\n");
        // A throw-away pass first: the first set-up measured in a process otherwise pays for the process's own warm-up
        // (tiered JIT, EF Core's shared caches) and reads ~0.6 KB heavier than the same set-up measured later.
        await using (var warmup = Plain(sync1))
        {
            await ReadManyAsync(warmup, 2_000);
            await ReadManyAsyncAsync(warmup, 2_000);
        }

        double? baseline = null, asyncBaseline = null;
        using var sampler = new AllocationSampler();
        var samples = new List<(string Name, IReadOnlyDictionary<string, long> Bytes)>();
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

                    // Async reads hop threads: every byte of the process counts (an idle monitor adds < 1 B per read).
                    await ReadManyAsyncAsync(services, 500);
                    var total = GC.GetTotalAllocatedBytes(precise: true);
                    sampler.Start();
                    await ReadManyAsyncAsync(services, Reads);
                    samples.Add((name, sampler.Stop()));
                    var perAsyncRead = (GC.GetTotalAllocatedBytes(precise: true) - total) / (double)Reads;
                    asyncBaseline ??= perAsyncRead;
                    sb.AppendLine(CultureInfo.InvariantCulture,
                        $"| {name} | {perRead:F0} | {perRead - baseline.Value:+0;-0;0} | {perAsyncRead:F0} | {perAsyncRead - asyncBaseline.Value:+0;-0;0} |");
                }
            }
        }

        // Where the async bytes of the defaults go beyond plain EF Core's, by sampled type (GCAllocationTick, ~100 KB a sample).
        var plain = samples[0].Bytes;
        var routed = samples.First(s => s.Name.Contains("defaults", StringComparison.Ordinal) && !s.Name.Contains("MasterOnly", StringComparison.Ordinal)).Bytes;
        sb.AppendLine().AppendLine("| type (async reads, sampled) | plain EF Core, bytes per read | RoutingSdk defaults, bytes per read | difference |").AppendLine("|---|---|---|---|");
        foreach (var type in plain.Keys.Union(routed.Keys)
                     .Select(t => (Type: t, Plain: plain.GetValueOrDefault(t) / (double)Reads, Routed: routed.GetValueOrDefault(t) / (double)Reads))
                     .OrderByDescending(t => Math.Abs(t.Routed - t.Plain)).Take(12))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| `{type.Type}` | {type.Plain:F0} | {type.Routed:F0} | {type.Routed - type.Plain:+0;-0;0} |");
        }

        return sb.ToString();
    }

    private static async Task ReadManyAsyncAsync(IServiceProvider services, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await using var scope = services.CreateAsyncScope();
            var id = 1 + i % 20_000;
            _ = await scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id);
        }
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

    private static ServiceProvider Routed(string primary, string sync1, bool retry, bool buffer = false) => LiveNodeBenchmarks.Routed(primary, sync1, retry, buffer: buffer);
}
