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

    /// <summary>Operations that only read, one statement per routing decision: the servers' count and RoutingSdk's must agree per cluster.</summary>
    private static readonly string[] ReadOperations = ["SalesReport", "InvoicePrint", "CustomerCard"];

    /// <summary>The run's tenants (one unnamed with a single cluster).</summary>
    public IReadOnlyList<SampleTenant> Tenants { get; init; } = [];

    /// <summary>Operations completed per tenant label.</summary>
    public Dictionary<string, long> CompletedByTenant { get; init; } = [];

    /// <summary>RoutingSdk's decisions per tenant and the cluster it chose.</summary>
    public Dictionary<(string Tenant, string Cluster), long> DecisionsByTenant { get; init; } = [];

    private bool MultiCluster => Tenants.Any(t => t.Name is not null);

    private List<string> Clusters => Tenants.Select(t => t.Cluster).Distinct().ToList();

    /// <summary>Decisions that sent a tenant's statement to a cluster other than the one it is mapped to.</summary>
    private long WrongCluster(SampleTenant tenant) =>
        DecisionsByTenant.Where(kv => kv.Key.Tenant == tenant.Label && !string.Equals(kv.Key.Cluster, tenant.Cluster, StringComparison.OrdinalIgnoreCase)).Sum(kv => kv.Value);

    /// <summary>The read operations' statements on a cluster: counted by its servers, and decided for it by RoutingSdk.</summary>
    private (long Servers, long Decided) ReadsOn(string cluster) =>
        (ServerCalls.Where(kv => ReadOperations.Contains(kv.Key.Operation) && kv.Key.Node.StartsWith(cluster + "/", StringComparison.Ordinal)).Sum(kv => kv.Value),
         DecisionsByPool.Where(kv => ReadOperations.Contains(Normalize(kv.Key.Operation)) && kv.Key.Pool.StartsWith(cluster + "/", StringComparison.Ordinal)).Sum(kv => kv.Value));
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
        // The servers' table in the decisions' column order; nodes that are no pool (none in the sample's files) last.
        nodes = nodes.OrderBy(n => pools.Contains(n) ? pools.ToList().IndexOf(n) : int.MaxValue).ToList();
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(inv, $"RoutingSdk ERP sample: {Completed.Values.Sum():N0} operations in {Elapsed.TotalSeconds:F1} s with {Concurrency} workers, {Errors.Count} errors");
        sb.AppendLine();
        sb.AppendLine("Where each operation's statements ran — RoutingSdk's decisions (count, share):");
        sb.Append(inv, $"  {"operation",-14} {"done",7}");
        foreach (var pool in pools)
        {
            sb.Append(inv, $" {pool,18}");
        }

        sb.AppendLine(inv, $" {"main reason",-28}");
        foreach (var op in Operations)
        {
            var counts = pools.Select(p => DecisionsByPool.Where(kv => Normalize(kv.Key.Operation) == op && kv.Key.Pool == p).Sum(kv => kv.Value)).ToList();
            var total = counts.Sum();
            sb.Append(inv, $"  {op,-14} {Completed.GetValueOrDefault(op),7:N0}");
            foreach (var count in counts)
            {
                sb.Append(inv, $" {(total == 0 ? "-" : $"{count:N0} ({100.0 * count / total:F0}%)"),18}");
            }

            var reason = DecisionsByReason.Where(kv => Normalize(kv.Key.Operation) == op).OrderByDescending(kv => kv.Value).Select(kv => kv.Key.Reason.ToString()).FirstOrDefault() ?? "-";
            sb.AppendLine(inv, $" {reason,-28}");
        }

        sb.AppendLine();
        sb.AppendLine("The same, from the servers' own statistics (pg_stat_statements calls of each operation's tagged queries):");
        sb.Append(inv, $"  {"operation",-14}");
        foreach (var node in nodes)
        {
            sb.Append(inv, $" {node,18}");
        }

        sb.AppendLine();
        foreach (var op in Operations)
        {
            var counts = nodes.Select(n => ServerCalls.GetValueOrDefault((op, n))).ToList();
            var total = counts.Sum();
            sb.Append(inv, $"  {op,-14}");
            foreach (var count in counts)
            {
                sb.Append(inv, $" {(total == 0 ? "-" : $"{count:N0} ({100.0 * count / total:F0}%)"),18}");
            }

            sb.AppendLine();
        }

        if (MultiCluster)
        {
            AppendTenants(sb);
        }

        sb.AppendLine();
        sb.AppendLine(inv, $"Retries after recovery conflicts or dead replicas: {Retries}   evictions: {Evictions}   unconfirmed commits: {UnconfirmedCommits}");
        var fallbacks = DecisionsByReason.Where(kv => Fallbacks.Contains(kv.Key.Reason)).GroupBy(kv => kv.Key.Reason)
            .Select(g => $"{g.Key} {g.Sum(kv => kv.Value):N0}").ToList();
        sb.AppendLine(inv, $"Fallbacks: {(fallbacks.Count == 0 ? "none" : string.Join(", ", fallbacks))}");
        sb.AppendLine(inv, $"Largest asynchronous-replica lag seen: {MaxAsyncLagMilliseconds:N0} ms");
        sb.AppendLine(inv, $"Nightly report{(MultiCluster ? $" of {Tenants[0].Name} on cluster {Tenants[0].Cluster}" : "")} (met a WAL-replay conflict on a replica): {NightlyReport}");
        foreach (var error in Errors.Take(10))
        {
            sb.AppendLine("  error: " + error);
        }

        return sb.ToString();
    }

    private void AppendTenants(StringBuilder sb)
    {
        var inv = CultureInfo.InvariantCulture;
        var clusters = Clusters;
        sb.AppendLine();
        sb.AppendLine("Where each tenant's statements ran — RoutingSdk's decisions by cluster:");
        sb.Append(inv, $"  {"tenant",-10} {"mapped to",-12} {"done",7}");
        foreach (var cluster in clusters)
        {
            sb.Append(inv, $" {cluster,12}");
        }

        sb.AppendLine(inv, $" {"wrong cluster",14}");
        foreach (var tenant in Tenants)
        {
            sb.Append(inv, $"  {tenant.Label,-10} {tenant.Cluster,-12} {CompletedByTenant.GetValueOrDefault(tenant.Label),7:N0}");
            foreach (var cluster in clusters)
            {
                sb.Append(inv, $" {DecisionsByTenant.GetValueOrDefault((tenant.Label, cluster)),12:N0}");
            }

            sb.AppendLine(inv, $" {WrongCluster(tenant),14:N0}");
        }

        sb.AppendLine();
        sb.AppendLine(inv, $"Each cluster's own count (pg_stat_statements on all its nodes) of the read operations' statements ({string.Join(", ", ReadOperations)}), against RoutingSdk's decisions for it:");
        sb.AppendLine(inv, $"  {"cluster",-12} {"tenants",-16} {"servers",9} {"RoutingSdk",11}");
        foreach (var cluster in clusters)
        {
            var (servers, decided) = ReadsOn(cluster);
            var names = string.Join(", ", Tenants.Where(t => t.Cluster == cluster).Select(t => t.Label));
            sb.AppendLine(inv, $"  {cluster,-12} {names,-16} {servers,9:N0} {decided,11:N0}");
        }
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
        tenants = MultiCluster
            ? Tenants.ToDictionary(t => t.Label, t => (object)new
            {
                cluster = t.Cluster,
                operations = CompletedByTenant.GetValueOrDefault(t.Label),
                decisions = DecisionsByTenant.Where(kv => kv.Key.Tenant == t.Label).ToDictionary(kv => kv.Key.Cluster, kv => kv.Value),
                wrongCluster = WrongCluster(t),
            })
            : null,
        serverCallsByCluster = MultiCluster
            ? Clusters.ToDictionary(c => c, c => (object)new
            {
                tenants = Tenants.Where(t => t.Cluster == c).Select(t => t.Label).ToList(),
                serverReads = ReadsOn(c).Servers,
                decidedReads = ReadsOn(c).Decided,
                serverCalls = ServerCalls.Where(kv => kv.Key.Node.StartsWith(c + "/", StringComparison.Ordinal)).GroupBy(kv => kv.Key.Operation)
                    .ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value)),
            })
            : null,
    }, new JsonSerializerOptions { WriteIndented = true });
}
