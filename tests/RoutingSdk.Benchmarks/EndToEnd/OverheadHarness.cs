using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>
/// What routing costs where it changes nothing: point reads by key on sync1, one worker, plain EF Core against the
/// node directly vs RoutingSdk routed to the same node with the defaults (health monitor on, read retry on), and
/// RoutingSdk with <c>Health.Enabled = false</c> as a diagnostic. Rounds are interleaved (the order rotates every
/// round) and each variant's service provider — its pools and its health monitor — exists only during its own slice,
/// so no variant's monitor runs while another is measured. Then the monitor's own cost on the primary: an idle routed
/// application (one, then a fleet), primary CPU from /proc, connections and statements from the server's statistics.
/// </summary>
public sealed class OverheadHarness(IReadOnlyDictionary<string, string> nodes, OverheadOptions options)
{
    private const int Orders = BenchSchema.Orders;
    private const string ProbeMark = "/* bench-probe */ ";

    /// <param name="OptIn">Run only when named in --variants (diagnostics that lengthen a default run).</param>
    private sealed record SameNodeVariant(string Key, string Description, Func<ServiceProvider> Create, bool OptIn = false);

    private sealed record Slice(string Variant, int Round, double P50Ms, long Ops, double ClientCpuUsPerOp, double BytesPerOp)
    {
        public double OpsPerSecond { get; init; }
    }

    public async Task<string> RunAsync()
    {
        await BenchSchema.EnsureAsync(nodes["primary"], TimeSpan.FromSeconds(1));
        var sb = new StringBuilder();
        if (options.ProfileVariant is { } profiled)
        {
            await ProfileAsync(Variants().Single(v => v.Key == profiled));
            return "";
        }

        if (options.SameNode)
        {
            sb.AppendLine(await SameNodeAsync());
        }

        if (options.MonitorCost)
        {
            sb.AppendLine(await MonitorCostAsync());
        }

        return sb.ToString().TrimEnd();
    }

    private List<SameNodeVariant> Variants()
    {
        var sync1 = nodes["sync1"];
        var primary = nodes["primary"];
        var all = new List<SameNodeVariant>
        {
            new("plain", "plain EF Core on sync1", () => Plain(sync1)),
            new("routed", "RoutingSdk routed to sync1, defaults (monitor on, read retry on)", () => LiveNodeBenchmarks.Routed(primary, sync1, retry: true)),
            new("nomonitor", "RoutingSdk routed to sync1, Health.Enabled = false (diagnostic)", () => LiveNodeBenchmarks.Routed(primary, sync1, retry: true, monitor: false)),
            new("interceptors", "plain EF Core on sync1 + an empty connection and command interceptor (diagnostic: what EF Core charges for any interceptor)",
                () => Plain(sync1, new AllocationBreakdown.NoOpConnectionInterceptor(), new AllocationBreakdown.NoOpCommandInterceptor())),
            new("connonly", "plain EF Core on sync1 + an empty connection interceptor only (diagnostic, opt-in)",
                () => Plain(sync1, new AllocationBreakdown.NoOpConnectionInterceptor()), OptIn: true),
            new("cmdonly", "plain EF Core on sync1 + an empty command interceptor only (diagnostic, opt-in)",
                () => Plain(sync1, new AllocationBreakdown.NoOpCommandInterceptor()), OptIn: true),
        };
        return all.Where(v => options.Variants is null ? !v.OptIn : options.Variants.Contains(v.Key)).ToList();
    }

    private static ServiceProvider Plain(string connectionString, params Microsoft.EntityFrameworkCore.Diagnostics.IInterceptor[] interceptors)
    {
        var services = new ServiceCollection();
        services.AddDbContextPool<ShopDb>(o => o.UseNpgsql(connectionString).AddInterceptors(interceptors));
        return services.BuildServiceProvider();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Same node

    private async Task<string> SameNodeAsync()
    {
        var variants = Variants();
        var slices = new List<Slice>();

        // One throw-away round warms the process (JIT of the shared EF Core and Npgsql paths) for every variant alike.
        foreach (var variant in variants)
        {
            await RunSliceAsync(variant, round: 0, TimeSpan.FromSeconds(1));
        }

        for (var round = 1; round <= options.Rounds; round++)
        {
            for (var k = 0; k < variants.Count; k++)
            {
                var variant = variants[(k + round) % variants.Count]; // the order rotates: nobody always goes first
                var slice = await RunSliceAsync(variant, round, options.Slice);
                slices.Add(slice);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  round {round} {variant.Key,-9}: p50 {slice.P50Ms:F3} ms, {slice.OpsPerSecond:F0} ops/s, client CPU {slice.ClientCpuUsPerOp:F1} µs/op, {slice.BytesPerOp:F0} B/op"));
            }
        }

        return SameNodeReport(variants, slices);
    }

    private async Task<Slice> RunSliceAsync(SameNodeVariant variant, int round, TimeSpan length)
    {
        // The variant's provider lives for its slice only: its pools and (for the routed ones) its health monitor
        // start in the warm-up and are gone before the next variant runs.
        await using var services = variant.Create();
        await PointReadsAsync(services, options.Warmup, measure: false);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        GC.WaitForPendingFinalizers();
        return (await PointReadsAsync(services, length, measure: true))! with { Variant = variant.Key, Round = round };
    }

    private static async Task<Slice?> PointReadsAsync(ServiceProvider services, TimeSpan length, bool measure)
    {
        var latencies = new List<double>(50_000);
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var elapsed = await BenchSchema.PointReadsAsync(services, length, latencies);
        if (!measure)
        {
            return null;
        }

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        process.Refresh();
        var cpuUs = (process.TotalProcessorTime - cpuBefore).TotalMilliseconds * 1000;
        var ops = latencies.Count;
        latencies.Sort();
        return new Slice("", 0, Percentile(latencies, 0.5), ops, cpuUs / ops, (double)allocated / ops) { OpsPerSecond = ops / elapsed.TotalSeconds };
    }

    private string SameNodeReport(List<SameNodeVariant> variants, List<Slice> slices)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Same node (sync1), point read by key, one worker: {options.Rounds} interleaved rounds of {options.Slice.TotalSeconds:0.#} s per variant " +
            $"(order rotating; each variant's service provider created for its slice, warmed {options.Warmup.TotalSeconds:0.#} s, disposed after it). Medians (min–max) over rounds.");
        sb.AppendLine();
        sb.AppendLine("| variant | p50 ms | ops/s | client CPU µs/op | allocated B/op |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var v in variants)
        {
            var mine = slices.Where(s => s.Variant == v.Key).ToList();
            sb.AppendLine(inv, $"| {v.Description} | {Spread(mine.Select(s => s.P50Ms), "F3")} | {Spread(mine.Select(s => s.OpsPerSecond), "F0")} " +
                $"| {Spread(mine.Select(s => s.ClientCpuUsPerOp), "F1")} | {Spread(mine.Select(s => s.BytesPerOp), "F0")} |");
        }

        if (variants.All(v => v.Key != "plain"))
        {
            return sb.ToString();
        }

        sb.AppendLine();
        sb.AppendLine("Ratios to plain EF Core, computed per round (the variants of a round ran back to back), median (min–max):");
        sb.AppendLine();
        sb.AppendLine("| variant | p50 ratio | client CPU/op ratio | allocated B/op over plain |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var v in variants.Where(v => v.Key != "plain"))
        {
            var p50 = new List<double>();
            var cpu = new List<double>();
            var bytes = new List<double>();
            for (var round = 1; round <= options.Rounds; round++)
            {
                var plain = slices.Single(s => s.Round == round && s.Variant == "plain");
                var mine = slices.Single(s => s.Round == round && s.Variant == v.Key);
                p50.Add(mine.P50Ms / plain.P50Ms);
                cpu.Add(mine.ClientCpuUsPerOp / plain.ClientCpuUsPerOp);
                bytes.Add(mine.BytesPerOp - plain.BytesPerOp);
            }

            sb.AppendLine(inv, $"| {v.Description} | **{Spread(p50, "F3")}**× | **{Spread(cpu, "F3")}**× | {Spread(bytes, "+0;-0;0")} |");
            sb.AppendLine(inv, $"|   rounds | {string.Join(" ", p50.Select(r => r.ToString("F2", inv)))} | {string.Join(" ", cpu.Select(r => r.ToString("F2", inv)))} | |");
        }

        return sb.ToString();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Profiling: one variant, continuously, for dotnet-trace / dotnet-counters to attach to.

    private async Task ProfileAsync(SameNodeVariant variant)
    {
        await using var services = variant.Create();
        await PointReadsAsync(services, TimeSpan.FromSeconds(3), measure: false);
        Console.Error.WriteLine($"profile: pid {Environment.ProcessId} running '{variant.Key}' for {options.ProfileSeconds.TotalSeconds:0} s");
        var slice = (await PointReadsAsync(services, options.ProfileSeconds, measure: true))!;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"profile: '{variant.Key}' p50 {slice.P50Ms:F3} ms, {slice.OpsPerSecond:F0} ops/s, client CPU {slice.ClientCpuUsPerOp:F1} µs/op, {slice.BytesPerOp:F0} B/op"));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The monitor's cost on the primary

    private ServiceProvider IdleApp()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = nodes["primary"] });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = nodes["sync1"] });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = nodes["sync2"] });
            o.Pools.Add(new RoutingPoolOptions { Name = "async1", Role = PoolRole.AsyncReplica, ConnectionString = nodes["async1"] });
        });
        services.AddDbContextPool<ShopDb>((sp, o) => o.UseNpgsql(nodes["primary"]).UseQueryRouting(sp));
        return services.BuildServiceProvider();
    }

    /// <summary>One read starts the monitor (no host: it starts on the first decision); then the application is idle.</summary>
    private static async Task StartAsync(ServiceProvider app)
    {
        using var routing = RoutingScope.Begin(RouteKind.ReadReplica);
        await using var scope = app.CreateAsyncScope();
        _ = await scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == 1);
    }

    private sealed record Window(double Seconds, double TotalCpuMs, double BackendCpuMs, double ReapedCpuMs, long Sessions, long Statements, long HealthStatements, long Discards, long Rounds, int Backends)
    {
        public double RoundsPerSecond => Rounds / Seconds;
    }

    private async Task<string> MonitorCostAsync()
    {
        var inv = CultureInfo.InvariantCulture;
        var cpu = PrimaryCpu.FromEnvironment();
        if (cpu is null)
        {
            return "Monitor cost on the primary: not measured (export ROUTING_PRIMARY_PID and ROUTING_CLK_TCK, as scripts/bench.sh does).";
        }

        await using var probe = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(nodes["primary"]) { ApplicationName = "bench-probe", Pooling = false }.ConnectionString);
        await probe.OpenAsync();
        var probePid = probe.ProcessID;

        var idle = new List<Window>();
        var app = new List<Window>();
        for (var rep = 0; rep < options.IdleRepetitions; rep++)
        {
            // Interleaved: nothing of ours running, then one idle routed application (primary + sync1 + sync2 + async1).
            await Task.Delay(1_000);
            var w0 = await MeasureWindowAsync(cpu, probe, probePid, options.Idle);
            idle.Add(w0);
            Console.Error.WriteLine(Describe("no application", w0));
            await using (var one = IdleApp())
            {
                await StartAsync(one);
                await Task.Delay(3_000); // start-up verification and the first rounds are over
                var w1 = await MeasureWindowAsync(cpu, probe, probePid, options.Idle);
                app.Add(w1);
                Console.Error.WriteLine(Describe("one idle app", w1));
            }
        }

        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Health monitor's cost on the primary: an idle routed application (pools primary, sync1, sync2, async1; defaults: Interval 1 s), " +
            $"{options.IdleRepetitions} windows of {options.Idle.TotalSeconds:0} s interleaved with windows without it. Monitor CPU: the primary's client backends of the " +
            $"application's login other than the probe, from /proc/<pid>/schedstat (ns); exited backends: the postmaster's cutime+cstime (HAProxy's health checks of the " +
            $"topology open one connection to the primary every 2 s, in every window alike); whole primary: postmaster and every child. Connections opened from " +
            $"pg_stat_database.sessions, statements from pg_stat_statements (the probe's own excluded). Medians (min–max).");
        sb.AppendLine();
        sb.AppendLine("| | monitor backends' CPU ms/s | exited backends' CPU ms/s | whole primary CPU ms/s | connections opened per round | statements per round (of which DISCARD ALL) | rounds/s | backends held |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        sb.AppendLine(inv, $"| no application | {Spread(idle.Select(w => w.BackendCpuMs / w.Seconds), "F2")} | {Spread(idle.Select(w => w.ReapedCpuMs / w.Seconds), "F1")} " +
            $"| {Spread(idle.Select(w => w.TotalCpuMs / w.Seconds), "F1")} | – | {Spread(idle.Select(w => (double)w.Statements), "F0")} in total | – | {Spread(idle.Select(w => (double)w.Backends), "F0")} |");
        sb.AppendLine(inv, $"| one idle application | **{Spread(app.Select(w => w.BackendCpuMs / w.Seconds), "F2")}** | {Spread(app.Select(w => w.ReapedCpuMs / w.Seconds), "F1")} " +
            $"| {Spread(app.Select(w => w.TotalCpuMs / w.Seconds), "F1")} | {Spread(app.Select(w => PerRound(w.Sessions, w)), "F2")} " +
            $"| {Spread(app.Select(w => PerRound(w.Statements, w)), "F2")} ({Spread(app.Select(w => PerRound(w.Discards, w)), "F2")}) " +
            $"| {Spread(app.Select(w => w.RoundsPerSecond), "F2")} | {Spread(app.Select(w => (double)w.Backends), "F0")} |");

        if (options.Instances > 0)
        {
            var fleet = new List<ServiceProvider>();
            try
            {
                for (var i = 0; i < options.Instances; i++)
                {
                    var instance = IdleApp();
                    fleet.Add(instance);
                    await StartAsync(instance);
                }

                await Task.Delay(5_000);
                var w = await MeasureWindowAsync(cpu, probe, probePid, options.Idle);
                Console.Error.WriteLine(Describe($"{options.Instances} idle apps", w));
                sb.AppendLine(inv, $"| **{options.Instances} idle applications** (one process, started one after another) | **{w.BackendCpuMs / w.Seconds:F1}** " +
                    $"({w.BackendCpuMs / w.Seconds / options.Instances:F2} per instance) | {w.ReapedCpuMs / w.Seconds:F1} | {w.TotalCpuMs / w.Seconds:F1} | {PerRound(w.Sessions, w):F2} " +
                    $"| {PerRound(w.Statements, w):F2} ({PerRound(w.Discards, w):F2}) | {w.RoundsPerSecond:F1} | {w.Backends} |");
            }
            finally
            {
                foreach (var instance in fleet)
                {
                    await instance.DisposeAsync();
                }
            }
        }

        return sb.ToString();
    }

    private static double PerRound(long count, Window w) => w.Rounds == 0 ? double.NaN : (double)count / w.Rounds;

    private static string Describe(string what, Window w) => string.Create(CultureInfo.InvariantCulture,
        $"  {what}: backends {w.BackendCpuMs / w.Seconds:F2} ms/s + reaped {w.ReapedCpuMs / w.Seconds:F2} ms/s, whole primary {w.TotalCpuMs / w.Seconds:F2} ms/s, " +
        $"{w.Rounds} rounds, {w.Sessions} sessions, {w.Statements} statements ({w.HealthStatements} health, {w.Discards} DISCARD ALL), {w.Backends} backends");

    private async Task<Window> MeasureWindowAsync(PrimaryCpu cpu, NpgsqlConnection probe, int probePid, TimeSpan length)
    {
        var before = await CountersAsync(probe);
        var backendsBefore = await BackendsAsync(probe, probePid);
        var cpuBefore = backendsBefore.ToDictionary(pid => pid, pid => ProcCpu.ProcessMilliseconds(pid) ?? 0);
        var reapedBefore = ProcCpu.ReapedChildrenMilliseconds(cpu);
        var totalBefore = cpu.TotalMilliseconds();
        var clock = Stopwatch.StartNew();
        await Task.Delay(length);
        var totalAfter = cpu.TotalMilliseconds();
        var reapedAfter = ProcCpu.ReapedChildrenMilliseconds(cpu);
        var backendsAfter = await BackendsAsync(probe, probePid);
        double backendCpu = 0;
        foreach (var pid in backendsAfter)
        {
            if (ProcCpu.ProcessMilliseconds(pid) is { } now)
            {
                backendCpu += now - cpuBefore.GetValueOrDefault(pid); // a backend started during the window counts whole
            }
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var after = await CountersAsync(probe);
        return new Window(seconds, totalAfter - totalBefore, backendCpu, reapedAfter - reapedBefore,
            after.Sessions - before.Sessions - 0, after.Statements - before.Statements, after.Health - before.Health, after.Discards - before.Discards,
            after.Rounds - before.Rounds, backendsAfter.Count);
    }

    private static async Task<List<int>> BackendsAsync(NpgsqlConnection probe, int probePid)
    {
        await using var cmd = new NpgsqlCommand(ProbeMark + "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = current_user AND pid <> $1", probe) { Parameters = { new() { Value = probePid } } };
        var pids = new List<int>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            pids.Add(reader.GetInt32(0));
        }

        return pids;
    }

    private static async Task<(long Sessions, long Statements, long Health, long Discards, long Rounds)> CountersAsync(NpgsqlConnection probe)
    {
        await using var cmd = new NpgsqlCommand(ProbeMark +
            "SELECT (SELECT sessions FROM pg_stat_database WHERE datname = current_database()), " +
            "coalesce(sum(calls) FILTER (WHERE query NOT LIKE '%bench-probe%'), 0)::bigint, " +
            "coalesce(sum(calls) FILTER (WHERE query LIKE '%RoutingSdk:health%'), 0)::bigint, " +
            "coalesce(sum(calls) FILTER (WHERE query ILIKE 'DISCARD ALL%'), 0)::bigint, " +
            // One round asks the primary for its WAL position once, whatever the statements look like.
            "coalesce(sum(calls) FILTER (WHERE query LIKE '%RoutingSdk:health%' AND query LIKE '%pg_current_wal_lsn%'), 0)::bigint " +
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())", probe);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
    }

    // ---------------------------------------------------------------------------------------------------------------

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Spread(IEnumerable<double> values, string format)
    {
        var list = values.ToList();
        var inv = CultureInfo.InvariantCulture;
        return list.Count == 0 ? "–" : $"{Median(list).ToString(format, inv)} ({list.Min().ToString(format, inv)}–{list.Max().ToString(format, inv)})";
    }
}

/// <summary>CPU of single PostgreSQL processes from /proc: schedstat (nanoseconds) where the kernel has it, utime+stime otherwise.</summary>
internal static class ProcCpu
{
    private static readonly int TicksPerSecond = int.TryParse(Environment.GetEnvironmentVariable("ROUTING_CLK_TCK"), out var hz) && hz > 0 ? hz : 100;

    public static double? ProcessMilliseconds(int pid)
    {
        try
        {
            var schedstat = File.ReadAllText($"/proc/{pid}/schedstat");
            return long.Parse(schedstat.AsSpan(0, schedstat.IndexOf(' ')), CultureInfo.InvariantCulture) / 1e6;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return Stat(pid) is { } s ? (s[11] + s[12]) * 1000.0 / TicksPerSecond : null;
        }
    }

    /// <summary>The postmaster's cutime+cstime: CPU of children that exited and were reaped.</summary>
    public static double ReapedChildrenMilliseconds(PrimaryCpu cpu) =>
        Stat(cpu.PostmasterPid) is { } s ? (s[13] + s[14]) * 1000.0 / TicksPerSecond : 0;

    // Fields after the command name, from field 3 (state) on: index 0 = field 3, so utime (field 14) is index 11.
    private static long[]? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ').Select(f => long.TryParse(f, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0).ToArray();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
