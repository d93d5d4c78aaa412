using System.Globalization;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>What the end-to-end harness runs: <c>e2e [--duration s] [--repetitions n] [--concurrency 1,8] [--write-share %]
/// [--variants a,b,d] [--label text] [--no-same-node] [--rows-only]</c>.</summary>
public sealed record HarnessOptions
{
    public const string Usage =
        "e2e [--duration <s>] [--repetitions <n>] [--concurrency 1,8] [--write-share <0-80>] [--variants a,b,c,d,e] [--label <text>] [--no-same-node] [--rows-only]";

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    public int Repetitions { get; init; } = 3;

    public int[] Concurrency { get; init; } = [1, 8];

    /// <summary>Percentage of operations that write; the small report stays at 20%, point reads take the rest.</summary>
    public int WriteShare { get; init; } = 10;

    /// <summary>Variant keys to run; <see langword="null"/> runs all.</summary>
    public IReadOnlySet<string>? Variants { get; init; }

    public string Label { get; init; } = "uncapped";

    /// <summary>Whether to measure the same-node overhead (routed to sync1 vs plain on sync1) after the variants.</summary>
    public bool SameNode { get; init; } = true;

    /// <summary>Print only the master-bound curve's table rows.</summary>
    public bool RowsOnly { get; init; }

    public static HarnessOptions Parse(IReadOnlyList<string> args)
    {
        var options = new HarnessOptions();
        for (var i = 0; i < args.Count; i++)
        {
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value. Usage: {Usage}");
            static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
            options = args[i] switch
            {
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Int(Next())) },
                "--repetitions" => options with { Repetitions = Int(Next()) },
                "--concurrency" => options with { Concurrency = Next().Split(',').Select(Int).ToArray() },
                "--write-share" => options with { WriteShare = Int(Next()) is var w and >= 0 and <= 80 ? w : throw new ArgumentException($"--write-share must be 0–80 (the report keeps 20%). Usage: {Usage}") },
                "--variants" => options with { Variants = Next().Split(',').ToHashSet() },
                "--label" => options with { Label = Next() },
                "--no-same-node" => options with { SameNode = false },
                "--rows-only" => options with { RowsOnly = true, SameNode = false },
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'. Usage: {Usage}"),
            };
        }

        return options;
    }
}
