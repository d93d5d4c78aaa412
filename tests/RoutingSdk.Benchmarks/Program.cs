using BenchmarkDotNet.Running;
using RoutingSdk.Benchmarks.EndToEnd;

// Micro-benchmarks:  dotnet run -c Release --project tests/RoutingSdk.Benchmarks -- --filter '*'
// End to end:        scripts/bench.sh   (runs: ... -- e2e --duration 5 --repetitions 3 --concurrency 1,8)
// Overhead:          scripts/bench.sh overhead   (runs: ... -- overhead --rounds 9 --slice 3)
// Allocation:        scripts/bench.sh alloc      (runs: ... -- alloc with PRIMARY/SYNC1 exported)
// Noisy tenant:      scripts/bench.sh tenants    (runs: ... -- tenants [--rounds 3] [--slice 6] [--noisy 32] [--limit 4])
if (args.Length > 0 && args[0] == "tenants")
{
    int Option(string name, int fallback) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0 ? v : fallback;
    Console.WriteLine(await new NoisyTenantHarness(
        NodesFromEnvironment("primary", "sync1", "sync2"), Option("--rounds", 3), TimeSpan.FromSeconds(Option("--slice", 6)), Option("--noisy", 32), Option("--limit", 4)).RunAsync());
    return 0;
}

if (args.Length > 0 && args[0] == "alloc")
{
    Console.WriteLine(await AllocationBreakdown.RunAsync(
        Environment.GetEnvironmentVariable("PRIMARY") ?? throw new InvalidOperationException("Export PRIMARY and SYNC1 (scripts/bench.sh alloc does it)."),
        Environment.GetEnvironmentVariable("SYNC1") ?? throw new InvalidOperationException("Export PRIMARY and SYNC1 (scripts/bench.sh alloc does it).")));
    return 0;
}

if (args.Length > 0 && args[0] == "overhead")
{
    if (Parse(OverheadOptions.Parse, args[1..]) is not { } overhead)
    {
        return 2;
    }

    Console.WriteLine(await new OverheadHarness(NodesFromEnvironment("primary", "sync1", "sync2", "async1"), overhead).RunAsync());
    return 0;
}

if (args.Length > 0 && args[0] == "e2e")
{
    if (Parse(HarnessOptions.Parse, args[1..]) is not { } options)
    {
        return 2;
    }

    Console.WriteLine(await new EndToEndHarness(NodesFromEnvironment("primary", "sync1", "sync2", "async1", "read_vip"), options).RunAsync());
    return 0;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

// Each node's connection string from its variable (PRIMARY, SYNC1, …), as scripts/bench.sh exports them from scripts/cluster.sh env.
static Dictionary<string, string> NodesFromEnvironment(params string[] nodes) =>
    nodes.ToDictionary(n => n, n => Environment.GetEnvironmentVariable(n.ToUpperInvariant())
        ?? throw new InvalidOperationException($"Export {n.ToUpperInvariant()} (scripts/bench.sh does it from scripts/cluster.sh env)."));

// A harness's options from its arguments, or null after printing what is wrong with them (usage included).
static T? Parse<T>(Func<string[], T> parse, string[] arguments)
    where T : class
{
    try
    {
        return parse(arguments);
    }
    catch (Exception e) when (e is ArgumentException or FormatException)
    {
        Console.Error.WriteLine(e.Message);
        return null;
    }
}
