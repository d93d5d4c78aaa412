using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RoutingSdk.Diagnostics;

/// <summary>The <c>RoutingSdk</c> meter. Instrument names follow OpenTelemetry style.</summary>
internal static class RoutingMetrics
{
    public const string MeterName = "RoutingSdk";

    public static readonly Meter Meter = new(MeterName, typeof(RoutingMetrics).Assembly.GetName().Version?.ToString());

    public static readonly Counter<long> Decisions = Meter.CreateCounter<long>(
        "routing.decisions", unit: "{decision}", description: "Routing decisions, tagged by pool, reason, route and category.");

    public static readonly Counter<long> Retries = Meter.CreateCounter<long>(
        "routing.retries", unit: "{retry}", description: "Reads retried on another node after a recovery conflict or a dying replica.");

    public static readonly Counter<long> Fallbacks = Meter.CreateCounter<long>(
        "routing.fallbacks", unit: "{decision}", description: "Reads that could not use their preferred pools (lag, unhealthy replicas).");

    public static readonly Counter<long> Evictions = Meter.CreateCounter<long>(
        "routing.evictions", unit: "{eviction}", description: "Pools taken out of rotation (unreachable, wrong role, out of the synchronous quorum).");

    public static readonly Counter<long> UnconfirmedCommits = Meter.CreateCounter<long>(
        "routing.commits.unconfirmed", unit: "{commit}", description: "Commits the synchronous replicas did not confirm (PostgreSQL canceled the wait).");

    private static readonly string[] ReasonNames = Enum.GetNames<RouteDecisionReason>();
    private static readonly string[] RouteNames = Enum.GetNames<RouteKind>();
    private static readonly string[] CategoryNames = Enum.GetNames<RoutingCategory>();

    public static string Name(RouteDecisionReason reason) => (uint)reason < (uint)ReasonNames.Length ? ReasonNames[(int)reason] : reason.ToString();

    public static string Name(RouteKind route) => (uint)route < (uint)RouteNames.Length ? RouteNames[(int)route] : route.ToString();

    public static string Name(RoutingCategory category) => (uint)category < (uint)CategoryNames.Length ? CategoryNames[(int)category] : category.ToString();

    /// <summary>Adds the decision as an event to the current trace activity, when one is being recorded (no cost otherwise).</summary>
    public static void Trace(in RouteDecision decision)
    {
        if (Activity.Current is not { IsAllDataRequested: true } activity)
        {
            return;
        }

        activity.AddEvent(new ActivityEvent("routing.decision", tags: new ActivityTagsCollection
        {
            { "routing.pool", decision.PoolName },
            { "routing.reason", Name(decision.Reason) },
            { "routing.route", Name(decision.Route) },
            { "routing.category", Name(decision.Category) },
            { "routing.scenario", decision.Scenario },
        }));
    }

    public static void Record(in RouteDecision decision)
    {
        if (!Decisions.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "pool", decision.PoolName },
            { "reason", Name(decision.Reason) },
            { "route", Name(decision.Route) },
            { "category", Name(decision.Category) },
        };
        Decisions.Add(1, tags);
        if (decision.Reason is RouteDecisionReason.LagAboveLimit or RouteDecisionReason.AsyncReplicasUnavailable or RouteDecisionReason.ReplicasUnavailable)
        {
            Fallbacks.Add(1, tags);
        }
    }
}
