using System.Globalization;
using System.Text;
using System.Text.Json;
using RoutingSdk;

namespace ErpReports.Workload;

public sealed record WorkloadResult(
    TimeSpan Elapsed,
    int Concurrency,
    Dictionary<string, long> Completed,
    List<string> Errors,
    Dictionary<(string Operation, string Pool), long> DecisionsByPool,
    Dictionary<(string Operation, RouteDecisionReason Reason), long> DecisionsByReason,
    Dictionary<(string Operation, string Node), long> ServerCalls,
    long Retries,
    long Evictions,
    long UnconfirmedCommits,
    double MaxAsyncLagMilliseconds,
    string NightlyReport)
{
    private static readonly string[] Operations = ["OrderEntry", "SalesReport", "InvoicePrint", "CustomerCard", "NightlyReport"];
    private static readonly RouteDecisionReason[] Fallbacks =
    [
        RouteDecisionReason.LagAboveLimit, RouteDecisionReason.AsyncReplicasUnavailable, RouteDecisionReason.ReplicasUnavailable,
        RouteDecisionReason.ReplicaBehindOperationWrites, RouteDecisionReason.RetryAfterRecoveryConflict,
    ];

    /// <summary>The sample's scenario names are Type.Method; the operation is the type without its Form/Report suffix noise.</summary>
    private static string Normalize(string operation) => operation switch
    {
        "OrderEntryForm" => "OrderEntry",
        "InvoicePrintForm" => "InvoicePrint",
        _ => operation,
    };

    public string ToTable(IReadOnlyList<string> pools, IReadOnlyList<string> nodes)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(inv, $"RoutingSdk ERP sample: {Completed.Values.Sum():N0} operations in {Elapsed.TotalSeconds:F1} s with {Concurrency} workers, {Errors.Count} errors");
        sb.AppendLine();
        sb.AppendLine("Where each operation's statements ran — RoutingSdk's decisions (count, share):");
        sb.Append(inv, $"  {"operation",-14} {"done",7}");
        foreach (var pool in pools)
        {
            sb.Append(inv, $" {pool,16}");
        }

        sb.AppendLine(inv, $" {"main reason",-28}");
        foreach (var op in Operations)
        {
            var counts = pools.Select(p => DecisionsByPool.Where(kv => Normalize(kv.Key.Operation) == op && kv.Key.Pool == p).Sum(kv => kv.Value)).ToList();
            var total = counts.Sum();
            sb.Append(inv, $"  {op,-14} {Completed.GetValueOrDefault(op),7:N0}");
            foreach (var count in counts)
            {
                sb.Append(inv, $" {(total == 0 ? "-" : $"{count:N0} ({100.0 * count / total:F0}%)"),16}");
            }

            var reason = DecisionsByReason.Where(kv => Normalize(kv.Key.Operation) == op).OrderByDescending(kv => kv.Value).Select(kv => kv.Key.Reason.ToString()).FirstOrDefault() ?? "-";
            sb.AppendLine(inv, $" {reason,-28}");
        }

        sb.AppendLine();
        sb.AppendLine("The same, from the servers' own statistics (pg_stat_statements calls of each operation's tagged queries):");
        sb.Append(inv, $"  {"operation",-14}");
        foreach (var node in nodes)
        {
            sb.Append(inv, $" {node,16}");
        }

        sb.AppendLine();
        foreach (var op in Operations)
        {
            var counts = nodes.Select(n => ServerCalls.GetValueOrDefault((op, n))).ToList();
            var total = counts.Sum();
            sb.Append(inv, $"  {op,-14}");
            foreach (var count in counts)
            {
                sb.Append(inv, $" {(total == 0 ? "-" : $"{count:N0} ({100.0 * count / total:F0}%)"),16}");
            }

            sb.AppendLine();
        }

        sb.AppendLine();
        sb.AppendLine(inv, $"Retries after recovery conflicts or dead replicas: {Retries}   evictions: {Evictions}   unconfirmed commits: {UnconfirmedCommits}");
        var fallbacks = DecisionsByReason.Where(kv => Fallbacks.Contains(kv.Key.Reason)).GroupBy(kv => kv.Key.Reason)
            .Select(g => $"{g.Key} {g.Sum(kv => kv.Value):N0}").ToList();
        sb.AppendLine(inv, $"Fallbacks: {(fallbacks.Count == 0 ? "none" : string.Join(", ", fallbacks))}");
        sb.AppendLine(inv, $"Largest asynchronous-replica lag seen: {MaxAsyncLagMilliseconds:N0} ms");
        sb.AppendLine(inv, $"Nightly report (met a WAL-replay conflict on a replica): {NightlyReport}");
        foreach (var error in Errors.Take(10))
        {
            sb.AppendLine("  error: " + error);
        }

        return sb.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(new
    {
        elapsedSeconds = Elapsed.TotalSeconds,
        concurrency = Concurrency,
        completed = Completed,
        errors = Errors,
        decisions = DecisionsByPool.GroupBy(kv => Normalize(kv.Key.Operation)).ToDictionary(g => g.Key, g => g.ToDictionary(kv => kv.Key.Pool, kv => kv.Value)),
        reasons = DecisionsByReason.GroupBy(kv => Normalize(kv.Key.Operation)).ToDictionary(g => g.Key, g => g.ToDictionary(kv => kv.Key.Reason.ToString(), kv => kv.Value)),
        serverCalls = ServerCalls.GroupBy(kv => kv.Key.Operation).ToDictionary(g => g.Key, g => g.ToDictionary(kv => kv.Key.Node, kv => kv.Value)),
        retries = Retries,
        evictions = Evictions,
        unconfirmedCommits = UnconfirmedCommits,
        maxAsyncLagMilliseconds = MaxAsyncLagMilliseconds,
        nightlyReport = NightlyReport,
    }, new JsonSerializerOptions { WriteIndented = true });
}
