namespace RoutingSdk;

internal static class RouteStrictness
{
    /// <summary>MasterOnly (3) &gt; ReadReplica (2) &gt; AsyncReplica (1) &gt; Default (0).</summary>
    public static int Of(RouteKind kind) => kind switch
    {
        RouteKind.MasterOnly => 3,
        RouteKind.ReadReplica => 2,
        RouteKind.AsyncReplica => 1,
        _ => 0,
    };

    public static RouteKind Stricter(RouteKind a, RouteKind b) => Of(a) >= Of(b) ? a : b;

    public static bool IsDefined(RouteKind kind) => kind is RouteKind.Default or RouteKind.ReadReplica or RouteKind.AsyncReplica or RouteKind.MasterOnly;

    public static bool IsDefined(RoutingCategory category) =>
        category is RoutingCategory.Other or RoutingCategory.Interface or RoutingCategory.Report or RoutingCategory.PrintForm;
}
