using System.Collections.Concurrent;
using RoutingSdk;

namespace ErpReports.Workload;

/// <summary>
/// RoutingSdk's own view: every routing decision by operation, pool ("cluster/pool" with several clusters) and reason,
/// and by tenant (the ambient <see cref="TenantScope"/> of the statement) and cluster.
/// </summary>
public sealed class DecisionRecorder : IRouteDecisionObserver
{
    private readonly ConcurrentDictionary<(string Operation, string Pool), long> _byPool = new();
    private readonly ConcurrentDictionary<(string Operation, RouteDecisionReason Reason), long> _byReason = new();
    private readonly ConcurrentDictionary<(string Tenant, string Cluster), long> _byTenant = new();
    private long _unconfirmed;

    public void OnDecision(in RouteDecision decision)
    {
        var operation = OperationOf(decision.Scenario);
        var pool = decision.ClusterName is { } cluster ? $"{cluster}/{decision.PoolName}" : decision.PoolName;
        _byPool.AddOrUpdate((operation, pool), 1, static (_, n) => n + 1);
        _byReason.AddOrUpdate((operation, decision.Reason), 1, static (_, n) => n + 1);
        _byTenant.AddOrUpdate((TenantScope.CurrentTenant ?? "(no tenant)", decision.ClusterName ?? ""), 1, static (_, n) => n + 1);
    }

    public void OnUnconfirmedCommit(in UnconfirmedCommit commit) => Interlocked.Increment(ref _unconfirmed);

    public long UnconfirmedCommits => Interlocked.Read(ref _unconfirmed);

    public IReadOnlyDictionary<(string Operation, string Pool), long> ByPool => _byPool;

    public IReadOnlyDictionary<(string Operation, RouteDecisionReason Reason), long> ByReason => _byReason;

    public IReadOnlyDictionary<(string Tenant, string Cluster), long> ByTenant => _byTenant;

    public void Reset()
    {
        _byPool.Clear();
        _byReason.Clear();
        _byTenant.Clear();
    }

    /// <summary>"SalesReport.TopCustomersAsync" → "SalesReport".</summary>
    public static string OperationOf(string? scenario) =>
        scenario is null ? "(unscoped)" : scenario.Split('.')[0];
}
