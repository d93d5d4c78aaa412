using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace RoutingSdk.Benchmarks.EndToEnd;

public sealed class BenchOrder
{
    public int Id { get; set; }

    public int CustomerId { get; set; }

    public decimal Total { get; set; }

    public int Counter { get; set; }
}

public sealed class ShopDb(DbContextOptions<ShopDb> options) : DbContext(options)
{
    public DbSet<BenchOrder> Orders => Set<BenchOrder>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<BenchOrder>(e =>
        {
            e.ToTable("bench_orders", "bench");
            e.Property(o => o.Total).HasPrecision(12, 2);
            e.HasIndex(o => o.CustomerId);
        });
}

/// <summary>One way of reaching the nodes: a context for reads and one for writes (the same one where routing decides).</summary>
public sealed record Variant(string Key, string Description, Func<IServiceProvider, ShopDb> Reads, Func<IServiceProvider, ShopDb> Writes, ServiceProvider Services);

/// <summary>
/// The same ERP workload (point reads by key, a small report query, 10% writes) through plain EF Core on the primary,
/// RoutingSdk (direct pools and through HAProxy), Npgsql's multi-host prefer-standby data source, and two hand-rolled contexts.
/// Where reads ran comes from pg_stat_statements on every node.
/// </summary>
public sealed class EndToEndHarness(IReadOnlyDictionary<string, string> nodes, HarnessOptions options)
{
    private const int Orders = BenchSchema.Orders;
    private readonly TimeSpan duration = options.Duration;
    private readonly int repetitions = options.Repetitions;
    private readonly PrimaryCpu? primaryCpu = PrimaryCpu.FromEnvironment();

    public async Task<string> RunAsync()
    {
        await BenchSchema.EnsureAsync(nodes["primary"], TimeSpan.FromSeconds(3));
        await ResetStatementStatsAsync();
        var results = new List<RunResult>();
        var variants = CreateVariants();
        try
        {
            foreach (var concurrency in options.Concurrency)
            {
                // Warm every variant first (pools, compiled queries, tiered JIT of the shared EF Core paths), then
                // interleave the repetitions, so no variant gains from running after the others have warmed the process.
                var selected = variants.Where(v => options.Variants is null || options.Variants.Contains(v.Key)).ToList();
                foreach (var variant in selected)
                {
                    await RunOnceAsync(variant, concurrency, TimeSpan.FromSeconds(3));
                }

                for (var rep = 0; rep < repetitions; rep++)
                {
                    foreach (var variant in selected)
                    {
                        var result = await RunOnceAsync(variant, concurrency, duration);
                        results.Add(result);
                        Console.Error.WriteLine($"  {variant.Key} c={concurrency} rep {rep + 1}: p50 {result.P50Ms:F3} ms, p99 {result.P99Ms:F3} ms, {result.Throughput:F0} ops/s, " +
                            $"primary CPU {result.PrimaryCpuMsPer1000Ops:F0} ms/1000 ops, client CPU {result.ClientCpuMsPer1000Ops:F0} ms/1000 ops");
                    }
                }
            }

            if (options.RowsOnly)
            {
                return CurveRows(results);
            }

            var overhead = new List<(double Plain, double Routed, double RoutedNoRetry)>();
            if (options.SameNode)
            {
                await MeasureSameNodeAsync(overhead);
            }

            return Report(results, overhead);
        }
        finally
        {
            foreach (var v in variants)
            {
                await v.Services.DisposeAsync();
            }
        }
    }

    private async Task MeasureSameNodeAsync(List<(double Plain, double Routed, double RoutedNoRetry)> overhead)
    {
        // Overhead on the same node: routed to sync1 alone vs plain EF Core on sync1, point reads, one worker,
        // interleaved runs. Read retry makes EF Core buffer each result, so it is measured on and off.
        await using var plainSync1 = Plain(nodes["sync1"]);
        await using var routedSync1 = Routed(("sync1", nodes["sync1"]));
        await using var routedNoRetry = Routed(o => o.ReadRetry.Enabled = false, ("sync1", nodes["sync1"]));
        var slice = TimeSpan.FromSeconds(3);
        foreach (var warm in new[] { plainSync1, routedSync1, routedNoRetry })
        {
            await PointReadP50Async(warm, TimeSpan.FromSeconds(1));
        }

        for (var rep = 0; rep < Math.Max(5, repetitions); rep++)
        {
            var plain = await PointReadP50Async(plainSync1, slice);
            var routed = await PointReadP50Async(routedSync1, slice);
            var noRetry = await PointReadP50Async(routedNoRetry, slice);
            overhead.Add((plain, routed, noRetry));
        }
    }

    private static ServiceProvider Plain(string connectionString)
    {
        var services = new ServiceCollection();
        services.AddDbContextPool<ShopDb>(o => o.UseNpgsql(connectionString));
        return services.BuildServiceProvider();
    }

    private ServiceProvider Routed(params (string Name, string ConnectionString)[] readPools) => Routed(_ => { }, readPools);

    private ServiceProvider Routed(Action<RoutingOptions> configure, params (string Name, string ConnectionString)[] readPools)
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            configure(o);
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = nodes["primary"] });
            foreach (var (name, cs) in readPools)
            {
                o.Pools.Add(new RoutingPoolOptions { Name = name, Role = PoolRole.SyncReplica, ConnectionString = cs, Priority = 100 });
            }
        });
        services.AddDbContextPool<ShopDb>((sp, o) => o.UseNpgsql(nodes["primary"]).UseQueryRouting(sp));
        return services.BuildServiceProvider();
    }

    private List<Variant> CreateVariants()
    {
        static ShopDb Get(IServiceProvider sp) => sp.GetRequiredService<ShopDb>();
        var plain = Plain(nodes["primary"]);
        var direct = Routed(("sync1", nodes["sync1"]), ("sync2", nodes["sync2"]));
        var vip = Routed(("ReadPool", nodes["read_vip"]));
        var directNoRetry = Routed(o => o.ReadRetry.Enabled = false, ("sync1", nodes["sync1"]), ("sync2", nodes["sync2"]));

        // (d) Npgsql multi-host: reads through prefer-standby with load balancing; writes need the primary, so a second context.
        var multiHost = new ServiceCollection();
        var hosts = string.Join(',', new[] { "primary", "sync1", "sync2" }.Select(n => new NpgsqlConnectionStringBuilder(nodes[n]) is var b ? $"{b.Host}:{b.Port}" : ""));
        var template = new NpgsqlConnectionStringBuilder(nodes["primary"]) { Host = hosts, TargetSessionAttributes = "prefer-standby", LoadBalanceHosts = true };
        multiHost.AddDbContextPool<ShopDb>(o => o.UseNpgsql(template.ConnectionString));
        multiHost.AddKeyedScoped("write", (sp, _) => new ShopDb(new DbContextOptionsBuilder<ShopDb>().UseNpgsql(nodes["primary"]).Options));
        var multiHostServices = multiHost.BuildServiceProvider();

        // (e) Two hand-rolled contexts: reads alternate between the two replicas' connection strings, writes on the primary.
        var twoContexts = new ServiceCollection();
        var counter = 0;
        twoContexts.AddKeyedScoped("read", (_, _) => new ShopDb(new DbContextOptionsBuilder<ShopDb>()
            .UseNpgsql(Interlocked.Increment(ref counter) % 2 == 0 ? nodes["sync1"] : nodes["sync2"]).Options));
        twoContexts.AddKeyedScoped("write", (_, _) => new ShopDb(new DbContextOptionsBuilder<ShopDb>().UseNpgsql(nodes["primary"]).Options));
        var twoContextServices = twoContexts.BuildServiceProvider();

        return
        [
            new("a", "plain EF Core, primary", Get, Get, plain),
            new("b", "EF Core + RoutingSdk, sync1/sync2 direct", Get, Get, direct),
            new("c", "EF Core + RoutingSdk, HAProxy read VIP", Get, Get, vip),
            new("d", "EF Core, Npgsql multi-host prefer-standby", Get, sp => sp.GetRequiredKeyedService<ShopDb>("write"), multiHostServices),
            new("e", "two hand-rolled DbContexts", sp => sp.GetRequiredKeyedService<ShopDb>("read"), sp => sp.GetRequiredKeyedService<ShopDb>("write"), twoContextServices),
            new("f", "EF Core + RoutingSdk, sync1/sync2 direct, ReadRetry off", Get, Get, directNoRetry),
        ];
    }

    private sealed record RunResult(string Variant, string Description, int Concurrency, double P50Ms, double P99Ms, double Throughput, double AllocatedBytesPerOp,
        Dictionary<string, long> ReadsByNode, long Errors, double PrimaryCpuMsPer1000Ops, double ClientCpuMsPer1000Ops);

    private async Task<RunResult> RunOnceAsync(Variant variant, int concurrency, TimeSpan runFor)
    {
        var tag = $"bench:{variant.Key}";
        var before = await ReadsByNodeAsync();
        var latencies = new List<double>[concurrency];
        long ops = 0, errors = 0;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var cpuBefore = primaryCpu?.TotalMilliseconds();
        var clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(runFor);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
        {
            var random = new Random(w * 7919 + concurrency);
            var mine = latencies[w] = new List<double>(100_000);
            while (!stop.IsCancellationRequested)
            {
                var dice = random.Next(100);
                try
                {
                    await using var scope = variant.Services.CreateAsyncScope();
                    if (dice < options.WriteShare)
                    {
                        var db = variant.Writes(scope.ServiceProvider);
                        var id = 1 + random.Next(Orders);
                        await db.Orders.Where(o => o.Id == id).ExecuteUpdateAsync(s => s.SetProperty(o => o.Counter, o => o.Counter + 1));
                    }
                    else if (dice < options.WriteShare + 20)
                    {
                        var db = variant.Reads(scope.ServiceProvider);
                        var customer = 1 + random.Next(500);
                        await db.Orders.TagWith(tag).Where(o => o.CustomerId == customer).GroupBy(o => o.CustomerId)
                            .Select(g => new { g.Key, Total = g.Sum(o => o.Total), Count = g.Count() }).ToListAsync();
                    }
                    else
                    {
                        var db = variant.Reads(scope.ServiceProvider);
                        var id = 1 + random.Next(Orders);
                        var started = Stopwatch.GetTimestamp();
                        await db.Orders.TagWith(tag).AsNoTracking().FirstOrDefaultAsync(o => o.Id == id);
                        mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }

                    Interlocked.Increment(ref ops);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        clock.Stop();
        var cpuMs = cpuBefore is { } startCpu ? primaryCpu!.TotalMilliseconds() - startCpu : double.NaN;
        var clientMs = (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalMilliseconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var after = await ReadsByNodeAsync();
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new RunResult(variant.Key, variant.Description, concurrency, Percentile(all, 0.50), Percentile(all, 0.99), ops / clock.Elapsed.TotalSeconds,
            ops == 0 ? 0 : (double)allocated / ops, after.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key)), errors,
            ops == 0 ? double.NaN : cpuMs * 1000 / ops, ops == 0 ? double.NaN : clientMs * 1000 / ops);
    }

    private static async Task<double> PointReadP50Async(ServiceProvider services, TimeSpan runFor)
    {
        var latencies = new List<double>();
        await BenchSchema.PointReadsAsync(services, runFor, latencies);
        return Percentile(latencies.Order().ToArray(), 0.5);
    }

    /// <summary>
    /// Reads per node: calls of the workload's tagged queries. pg_stat_statements keys statements by shape (comments do
    /// not count) and keeps the first text seen, so the tag cannot tell variants apart; the variants run one at a time,
    /// so every delta during a run is that run's.
    /// </summary>
    private async Task<Dictionary<string, long>> ReadsByNodeAsync()
    {
        var result = new Dictionary<string, long>();
        foreach (var node in new[] { "primary", "sync1", "sync2", "async1" })
        {
            await using var conn = new NpgsqlConnection(nodes[node]);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE '-- bench:%' AND query NOT LIKE '%pg_stat%'", conn);
            result[node] = (long)(await cmd.ExecuteScalarAsync())!;
        }

        return result;
    }

    /// <summary>
    /// Forgets every node's statement statistics before the run. pg_stat_statements keeps the first text it saw of a
    /// statement shape: after another benchmark ran the same point read untagged on a kept cluster (the overhead
    /// harness, -- alloc), that node's reads no longer matched '-- bench:%' and went uncounted (sync1 showed 18.5%
    /// of reads at weights 1:1).
    /// </summary>
    private async Task ResetStatementStatsAsync()
    {
        foreach (var node in new[] { "primary", "sync1", "sync2", "async1" })
        {
            await using var conn = new NpgsqlConnection(nodes[node]);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT pg_stat_statements_reset()", conn);
            try
            {
                await cmd.ExecuteNonQueryAsync();
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                throw new InvalidOperationException(
                    $"The benchmark login cannot reset pg_stat_statements on {node} ({e.MessageText}); where reads ran would be miscounted. " +
                    "Run it as the local topology's application login (a superuser) or GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO it.", e);
            }
        }
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static IEnumerable<(RunResult First, List<RunResult> Runs, List<RunResult> Baseline)> Groups(List<RunResult> results) =>
        results.GroupBy(r => (r.Concurrency, r.Variant)).Select(g =>
            (g.First(), g.ToList(), results.Where(r => r.Concurrency == g.Key.Concurrency && r.Variant == "a").ToList()));

    private static string Ratio(double value, List<RunResult> baseline, Func<RunResult, double> of) =>
        baseline.Count == 0 || double.IsNaN(value) ? "–" : string.Create(CultureInfo.InvariantCulture, $"{value / Median(baseline.Select(of)):F2}×");

    private static string OffPrimary(List<RunResult> runs)
    {
        var total = runs.Sum(r => r.ReadsByNode.Values.Sum());
        return total == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * (total - runs.Sum(r => r.ReadsByNode.GetValueOrDefault("primary"))) / total:F1}%");
    }

    /// <summary>Rows of the master-bound curve (scripts/bench.sh curve writes the header).</summary>
    private string CurveRows(List<RunResult> results)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        foreach (var (first, runs, baseline) in Groups(results))
        {
            var tput = Median(runs.Select(r => r.Throughput));
            var p99 = Median(runs.Select(r => r.P99Ms));
            var cpu = Median(runs.Select(r => r.PrimaryCpuMsPer1000Ops));
            sb.AppendLine(inv,
                $"| {options.Label} | {options.WriteShare}% | ({first.Variant}) {first.Description} | {tput:F0} | {Ratio(tput, baseline, r => r.Throughput)} " +
                $"| {p99:F2} | {Ratio(p99, baseline, r => r.P99Ms)} | {cpu:F0} | {Ratio(cpu, baseline, r => r.PrimaryCpuMsPer1000Ops)} | {OffPrimary(runs)} |");
        }

        return sb.ToString().TrimEnd();
    }

    private string Report(List<RunResult> results, List<(double Plain, double Routed, double RoutedNoRetry)> overhead)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"End-to-end ({options.Label}): {duration.TotalSeconds:F0} s per run, {repetitions} repetitions (medians; spread = min–max), " +
            $"workload {80 - options.WriteShare}% point reads, 20% small report, {options.WriteShare}% writes.");
        sb.AppendLine(inv, $"Primary CPU: {(primaryCpu is null ? "not measured (export ROUTING_PRIMARY_PID, as scripts/bench.sh does)" : "/proc of the postmaster and its backends, ms per 1,000 operations")}.");
        sb.AppendLine();
        sb.AppendLine("| variant | workers | point-read p50 ms (spread) | ratio to (a) | p99 ms | ratio to (a) | ops/s (spread) | ratio to (a) | primary CPU ms / 1,000 ops | ratio to (a) | client CPU ms / 1,000 ops | KB allocated/op | reads on primary / sync1 / sync2 / async1 | errors |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (first, runs, baseline) in Groups(results))
        {
            var p50 = Median(runs.Select(r => r.P50Ms));
            var p99 = Median(runs.Select(r => r.P99Ms));
            var tput = Median(runs.Select(r => r.Throughput));
            var cpu = Median(runs.Select(r => r.PrimaryCpuMsPer1000Ops));
            var reads = new[] { "primary", "sync1", "sync2", "async1" }.Select(n => runs.Sum(r => r.ReadsByNode.GetValueOrDefault(n))).ToArray();
            var totalReads = Math.Max(1, reads.Sum());
            sb.AppendLine(inv,
                $"| ({first.Variant}) {first.Description} | {first.Concurrency} | {p50:F3} ({runs.Min(r => r.P50Ms):F3}–{runs.Max(r => r.P50Ms):F3}) | {Ratio(p50, baseline, r => r.P50Ms)} " +
                $"| {p99:F3} | {Ratio(p99, baseline, r => r.P99Ms)} | {tput:F0} ({runs.Min(r => r.Throughput):F0}–{runs.Max(r => r.Throughput):F0}) | {Ratio(tput, baseline, r => r.Throughput)} " +
                $"| {cpu:F0} | {Ratio(cpu, baseline, r => r.PrimaryCpuMsPer1000Ops)} | {Median(runs.Select(r => r.ClientCpuMsPer1000Ops)):F0} " +
                $"| {Median(runs.Select(r => r.AllocatedBytesPerOp)) / 1024:F1} | {string.Join(" / ", reads.Select(r => $"{100.0 * r / totalReads:F1}%"))} | {runs.Sum(r => r.Errors)} |");
        }

        if (overhead.Count == 0)
        {
            return sb.ToString();
        }

        sb.AppendLine();
        var plain = Median(overhead.Select(o => o.Plain));
        var routed = Median(overhead.Select(o => o.Routed));
        var noRetry = Median(overhead.Select(o => o.RoutedNoRetry));
        sb.AppendLine(inv, $"Same node (sync1), one worker, point reads, {overhead.Count} interleaved 3 s runs, medians of p50:");
        sb.AppendLine(inv, $"  plain EF Core {plain:F3} ms; RoutingSdk {routed:F3} ms = {routed / plain:F3}× (runs {string.Join(", ", overhead.Select(o => $"{o.Routed / o.Plain:F3}"))}); " +
            $"RoutingSdk with ReadRetry off {noRetry:F3} ms = {noRetry / plain:F3}× (runs {string.Join(", ", overhead.Select(o => $"{o.RoutedNoRetry / o.Plain:F3}"))}).");
        return sb.ToString();
    }
}
