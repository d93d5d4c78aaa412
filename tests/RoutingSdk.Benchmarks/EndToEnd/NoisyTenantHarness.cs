using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>
/// A noisy tenant on a shared cluster (<c>scripts/bench.sh tenants</c>): two quiet tenants (2 workers each) run short
/// report reads on the replicas while a noisy tenant runs many concurrent long ones. Each replica pool has
/// <see cref="PoolSize"/> connections. Variants, interleaved per round, each with its own service provider:
/// (a) the quiet tenants alone; (b) with the noisy tenant and no limit; (c) with the noisy tenant and
/// <c>Tenants.MaxConnectionsPerTenant</c>. What is measured: the quiet tenants' operations per second and p50/p99
/// latency, the noisy tenant's, and the refusals.
/// </summary>
public sealed class NoisyTenantHarness(IReadOnlyDictionary<string, string> nodes, int rounds, TimeSpan slice, int noisyWorkers, int limit)
{
    public const int PoolSize = 8;
    private const int QuietWorkersPerTenant = 2;
    private static readonly string[] QuietTenants = ["quiet-a", "quiet-b"];

    public async Task<string> RunAsync()
    {
        var variants = new (string Key, string Name, bool Noisy, int Limit)[]
        {
            ("a", "(a) quiet tenants alone", false, 0),
            ("b", $"(b) + noisy tenant ({noisyWorkers} workers), no limit", true, 0),
            ("c", $"(c) + noisy tenant, MaxConnectionsPerTenant = {limit}", true, limit),
        };
        var results = variants.ToDictionary(v => v.Key, _ => new List<SliceResult>());
        for (var round = 0; round < rounds; round++)
        {
            foreach (var variant in variants)
            {
                results[variant.Key].Add(await RunSliceAsync(variant.Noisy, variant.Limit));
            }
        }

        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Noisy tenant on a shared cluster: {rounds} interleaved rounds of {slice.TotalSeconds:F0} s; replica pools of {PoolSize} connections each (sync1, sync2);");
        sb.AppendLine(inv, $"quiet tenants {string.Join(", ", QuietTenants)} with {QuietWorkersPerTenant} workers each (a 5 ms report read), noisy tenant with {noisyWorkers} workers (a 50 ms report read). Medians of the rounds [min–max].");
        sb.AppendLine();
        sb.AppendLine("| variant | quiet ops/s | quiet p50 ms | quiet p99 ms | noisy ops/s | noisy refused |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var variant in variants)
        {
            var r = results[variant.Key];
            string Stat(Func<SliceResult, double> of, string format) =>
                $"{Median(r.Select(of)).ToString(format, inv)} [{r.Min(of).ToString(format, inv)}–{r.Max(of).ToString(format, inv)}]";
            sb.AppendLine(inv, $"| {variant.Name} | {Stat(x => x.QuietPerSecond, "F0")} | {Stat(x => x.QuietP50, "F1")} | {Stat(x => x.QuietP99, "F1")} | {Stat(x => x.NoisyPerSecond, "F0")} | {r.Sum(x => x.NoisyRefused)} |");
        }

        return sb.ToString();
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private sealed record SliceResult(double QuietPerSecond, double QuietP50, double QuietP99, double NoisyPerSecond, long NoisyRefused);

    private async Task<SliceResult> RunSliceAsync(bool noisy, int perTenantLimit)
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            var shared = new RoutingOptions();
            shared.Pools.Add(new RoutingPoolOptions { Name = "primary", Role = PoolRole.Primary, ConnectionString = nodes["primary"], MaxPoolSize = PoolSize });
            shared.Pools.Add(new RoutingPoolOptions { Name = "sync1", ConnectionString = nodes["sync1"], MaxPoolSize = PoolSize });
            shared.Pools.Add(new RoutingPoolOptions { Name = "sync2", ConnectionString = nodes["sync2"], MaxPoolSize = PoolSize });
            o.Clusters["shared"] = shared;
            o.Tenants.DefaultCluster = "shared";
            o.Tenants.MaxConnectionsPerTenant = perTenantLimit;
            o.Tenants.LimitWaitTimeout = TimeSpan.FromSeconds(30); // the noisy tenant queues behind its own cap; it is not refused
        });
        await using var provider = services.BuildServiceProvider();
        var routed = provider.GetRequiredService<RoutingDataSource>();

        // Warm-up: every pool's connections exist before the clock starts.
        await Task.WhenAll(Enumerable.Range(0, 2 * PoolSize).Select(_ => ReadAsync(routed, "warm-up", 1)));

        using var stop = new CancellationTokenSource(slice);
        var quietLatencies = new List<double>[QuietTenants.Length * QuietWorkersPerTenant];
        long noisyDone = 0, noisyRefused = 0;
        var workers = new List<Task>();
        for (var i = 0; i < quietLatencies.Length; i++)
        {
            var latencies = quietLatencies[i] = [];
            var tenant = QuietTenants[i % QuietTenants.Length];
            workers.Add(Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var clock = Stopwatch.StartNew();
                    await ReadAsync(routed, tenant, 5);
                    latencies.Add(clock.Elapsed.TotalMilliseconds);
                }
            }));
        }

        if (noisy)
        {
            for (var i = 0; i < noisyWorkers; i++)
            {
                workers.Add(Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            await ReadAsync(routed, "noisy", 50);
                            Interlocked.Increment(ref noisyDone);
                        }
                        catch (TenantLimitExceededException)
                        {
                            Interlocked.Increment(ref noisyRefused);
                        }
                    }
                }));
            }
        }

        await Task.WhenAll(workers);
        var all = quietLatencies.SelectMany(l => l).Order().ToArray();
        double Percentile(double p) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(p * all.Length))];
        return new SliceResult(all.Length / slice.TotalSeconds, Percentile(0.50), Percentile(0.99), noisyDone / slice.TotalSeconds, noisyRefused);
    }

    private static async Task ReadAsync(RoutingDataSource routed, string tenant, int milliseconds)
    {
        using var tenantScope = TenantScope.Begin(tenant);
        using var report = RoutingScope.Begin(RouteKind.ReadReplica, "Bench.TenantReport", RoutingCategory.Report);
        await routed.ReadAsync(async (connection, ct) =>
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_sleep($1)", connection);
            cmd.Parameters.AddWithValue(milliseconds / 1000.0);
            return await cmd.ExecuteScalarAsync(ct);
        });
    }
}
