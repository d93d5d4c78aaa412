namespace RoutingSdk.Routing;

/// <summary>The session facts of one routing question.</summary>
internal readonly record struct RouteRequest(bool IsWrite, bool InTransaction, bool ExplicitRouteRequired = false, bool UserOpenedConnection = false)
{
    public static RouteRequest Read => new(false, false);

    public static RouteRequest Write => new(true, false);

    public static RouteRequest Transaction => new(false, true);
}
