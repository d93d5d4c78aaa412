using BenchmarkDotNet.Running;
using RoutingSdk.Benchmarks.EndToEnd;

// Micro-benchmarks:  dotnet run -c Release --project tests/RoutingSdk.Benchmarks -- --filter '*'
// End to end:        scripts/bench.sh   (runs: ... -- e2e --duration 5 --repetitions 3 --concurrency 1,8)
if (args.Length > 0 && args[0] == "e2e")
{
    var duration = TimeSpan.FromSeconds(5);
    var repetitions = 3;
    int[] concurrency = [1, 8];
    for (var i = 1; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--duration":
                duration = TimeSpan.FromSeconds(int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture));
                break;
            case "--repetitions":
                repetitions = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
                break;
            case "--concurrency":
                concurrency = args[++i].Split(',').Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                break;
            default:
                Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: e2e [--duration <s>] [--repetitions <n>] [--concurrency 1,8]");
                return 2;
        }
    }

    var nodes = new Dictionary<string, string>();
    foreach (var (key, env) in new[] { ("primary", "PRIMARY"), ("sync1", "SYNC1"), ("sync2", "SYNC2"), ("async1", "ASYNC1"), ("read_vip", "READ_VIP") })
    {
        nodes[key] = Environment.GetEnvironmentVariable(env)
            ?? throw new InvalidOperationException($"Export {env} (scripts/bench.sh does it from scripts/cluster.sh env).");
    }

    Console.WriteLine(await new EndToEndHarness(nodes, duration, concurrency, repetitions).RunAsync());
    return 0;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
