namespace RoutingSdk.Routing;

/// <summary>The session facts of one routing question.</summary>
/// <param name="IsWrite">A write command.</param>
/// <param name="InTransaction">Inside a database or ambient transaction.</param>
/// <param name="ExplicitRouteRequired">Plain ADO.NET: only an explicit replica route may leave the primary.</param>
/// <param name="UserOpenedConnection">A connection the caller opened outside an EF Core operation.</param>
/// <param name="RetryAttempt">0 for a first try; 1 retries on another replica; 2 and more go to the primary.</param>
/// <param name="AvoidAsyncReplicas">The async replicas have not replayed the operation's writes in time.</param>
/// <param name="PrimaryRequested">The query itself asked for the primary (EF Core <c>.OnPrimary()</c>).</param>
/// <param name="ReplicationUnconfirmed">The session (e.g. a DbContext outside any scope) saw a commit the synchronous replicas did not confirm.</param>
internal readonly record struct RouteRequest(
    bool IsWrite, bool InTransaction, bool ExplicitRouteRequired = false, bool UserOpenedConnection = false, int RetryAttempt = 0, bool AvoidAsyncReplicas = false,
    bool PrimaryRequested = false, bool ReplicationUnconfirmed = false)
{
    public static RouteRequest Read => new(false, false);

    public static RouteRequest Write => new(true, false);

    public static RouteRequest Transaction => new(false, true);
}
