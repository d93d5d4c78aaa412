using System.Globalization;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>
/// What <c>overhead</c> runs: the same-node comparison (plain EF Core on sync1 against RoutingSdk routed to sync1) and
/// the health monitor's cost on the primary. <c>overhead [--rounds n] [--slice s] [--warmup s] [--idle s]
/// [--idle-repetitions n] [--instances n] [--variants plain,routed,nomonitor,interceptors,connonly,cmdonly] [--no-same-node] [--no-monitor-cost]
/// [--profile-variant key --profile-seconds s]</c>.
/// </summary>
public sealed record OverheadOptions
{
    public const string Usage =
        "overhead [--rounds <n>] [--slice <s>] [--warmup <s>] [--idle <s>] [--idle-repetitions <n>] [--instances <n>] [--variants plain,routed,nomonitor,interceptors,connonly,cmdonly] " +
        "[--no-same-node] [--no-monitor-cost] [--profile-variant <key> --profile-seconds <s>]";

    /// <summary>Interleaved rounds of the same-node comparison; every variant runs once per round.</summary>
    public int Rounds { get; init; } = 9;

    /// <summary>Measured time of one variant in one round.</summary>
    public TimeSpan Slice { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Warm-up of a variant's fresh service provider before its slice (pool, model, the monitor's start).</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1.5);

    /// <summary>Length of one idle window of the monitor-cost measurement.</summary>
    public TimeSpan Idle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Interleaved (no app, one idle app) window pairs of the monitor-cost measurement.</summary>
    public int IdleRepetitions { get; init; } = 3;

    /// <summary>Idle application instances (each with its own monitor) of the fleet measurement; 0 skips it.</summary>
    public int Instances { get; init; } = 100;

    /// <summary>Same-node variant keys; <see langword="null"/> runs all (plain, routed, nomonitor).</summary>
    public IReadOnlySet<string>? Variants { get; init; }

    public bool SameNode { get; init; } = true;

    public bool MonitorCost { get; init; } = true;

    /// <summary>Runs only this variant for <see cref="ProfileSeconds"/> (for dotnet-trace / dotnet-counters to attach to).</summary>
    public string? ProfileVariant { get; init; }

    public TimeSpan ProfileSeconds { get; init; } = TimeSpan.FromSeconds(30);

    public static OverheadOptions Parse(IReadOnlyList<string> args)
    {
        var options = new OverheadOptions();
        for (var i = 0; i < args.Count; i++)
        {
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value. Usage: {Usage}");
            static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
            static TimeSpan Seconds(string s) => TimeSpan.FromSeconds(double.Parse(s, CultureInfo.InvariantCulture));
            options = args[i] switch
            {
                "--rounds" => options with { Rounds = Int(Next()) is var r and >= 1 ? r : throw new ArgumentException($"--rounds must be at least 1. Usage: {Usage}") },
                "--slice" => options with { Slice = Seconds(Next()) },
                "--warmup" => options with { Warmup = Seconds(Next()) },
                "--idle" => options with { Idle = Seconds(Next()) },
                "--idle-repetitions" => options with { IdleRepetitions = Int(Next()) },
                "--instances" => options with { Instances = Int(Next()) },
                "--variants" => options with { Variants = Next().Split(',').ToHashSet() },
                "--no-same-node" => options with { SameNode = false },
                "--no-monitor-cost" => options with { MonitorCost = false },
                "--profile-variant" => options with { ProfileVariant = Next() },
                "--profile-seconds" => options with { ProfileSeconds = Seconds(Next()) },
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'. Usage: {Usage}"),
            };
        }

        return options;
    }
}
