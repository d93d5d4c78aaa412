using System.Collections.Concurrent;
using RoutingSdk;

namespace ErpReports.Workload;

/// <summary>RoutingSdk's own view: every routing decision by operation, pool and reason.</summary>
public sealed class DecisionRecorder : IRouteDecisionObserver
{
    private readonly ConcurrentDictionary<(string Operation, string Pool), long> _byPool = new();
    private readonly ConcurrentDictionary<(string Operation, RouteDecisionReason Reason), long> _byReason = new();
    private long _unconfirmed;

    public void OnDecision(in RouteDecision decision)
    {
        var operation = OperationOf(decision.Scenario);
        _byPool.AddOrUpdate((operation, decision.PoolName), 1, static (_, n) => n + 1);
        _byReason.AddOrUpdate((operation, decision.Reason), 1, static (_, n) => n + 1);
    }

    public void OnUnconfirmedCommit(in UnconfirmedCommit commit) => Interlocked.Increment(ref _unconfirmed);

    public long UnconfirmedCommits => Interlocked.Read(ref _unconfirmed);

    public IReadOnlyDictionary<(string Operation, string Pool), long> ByPool => _byPool;

    public IReadOnlyDictionary<(string Operation, RouteDecisionReason Reason), long> ByReason => _byReason;

    public void Reset()
    {
        _byPool.Clear();
        _byReason.Clear();
    }

    /// <summary>"SalesReport.TopCustomersAsync" → "SalesReport".</summary>
    public static string OperationOf(string? scenario) =>
        scenario is null ? "(unscoped)" : scenario.Split('.')[0];
}
