namespace RoutingSdk;

/// <summary>
/// Sees every routing decision. Register implementations in DI (<c>services.AddSingleton&lt;IRouteDecisionObserver, MyObserver&gt;()</c>).
/// Called on the query's thread: keep it fast and never throw.
/// </summary>
public interface IRouteDecisionObserver
{
    /// <summary>Called after each decision.</summary>
    void OnDecision(in RouteDecision decision);

    /// <summary>Called when a commit was not confirmed by the synchronous replicas (see <see cref="ConsistencyOptions.OnUnconfirmedCommit"/>).</summary>
    void OnUnconfirmedCommit(in UnconfirmedCommit commit)
    {
    }
}
