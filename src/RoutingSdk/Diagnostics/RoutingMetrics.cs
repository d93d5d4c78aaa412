using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RoutingSdk.Diagnostics;

/// <summary>
/// The <c>RoutingSdk</c> meter of one application, made by the host's <see cref="IMeterFactory"/> when there is one
/// (so meters are scoped to the service provider, as .NET's own libraries do), else owned here. Instrument names
/// follow OpenTelemetry style.
/// </summary>
internal sealed class RoutingMetrics : IDisposable
{
    public const string MeterName = "RoutingSdk";

    private readonly bool _ownsMeter;

    public RoutingMetrics(IMeterFactory? factory = null, string? cluster = null)
    {
        // Several clusters: one meter per cluster, each tagged with it (one series per cluster in every instrument).
        var options = new MeterOptions(MeterName)
        {
            Version = typeof(RoutingMetrics).Assembly.GetName().Version?.ToString(),
            Tags = cluster is null ? null : [new KeyValuePair<string, object?>("routing.cluster", cluster)],
        };
        Meter = factory?.Create(options) ?? new Meter(options);
        _ownsMeter = factory is null;
        Decisions = Meter.CreateCounter<long>(
            "routing.decisions", unit: "{decision}", description: "Routing decisions, tagged by pool, reason, route and category.");
        Retries = Meter.CreateCounter<long>(
            "routing.retries", unit: "{retry}", description: "Reads retried on another node after a recovery conflict or a dying replica.");
        Fallbacks = Meter.CreateCounter<long>(
            "routing.fallbacks", unit: "{decision}", description: "Reads that could not use their preferred pools (lag, unhealthy replicas).");
        Evictions = Meter.CreateCounter<long>(
            "routing.evictions", unit: "{eviction}", description: "Pools taken out of rotation (unreachable, wrong role, out of the synchronous quorum).");
        UnconfirmedCommits = Meter.CreateCounter<long>(
            "routing.commits.unconfirmed", unit: "{commit}", description: "Commits the synchronous replicas did not confirm (PostgreSQL canceled the wait).");
    }

    public Meter Meter { get; }

    public Counter<long> Decisions { get; }

    public Counter<long> Retries { get; }

    public Counter<long> Fallbacks { get; }

    public Counter<long> Evictions { get; }

    public Counter<long> UnconfirmedCommits { get; }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }

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

    /// <summary>
    /// With Tenants.TagMetricsWithTenant: the tenants of the map, whose decisions carry a <c>tenant</c> tag; a tenant
    /// not in the map is tagged <c>(unmapped)</c> (its identifier may come from a request: one series per value would
    /// have no bound). <see langword="null"/>: no tenant tag. The cluster is the meter's own tag.
    /// </summary>
    public System.Collections.Frozen.FrozenSet<string>? TaggedTenants { get; set; }

    public void Record(in RouteDecision decision)
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
        if (TaggedTenants is { } tagged)
        {
            var tenant = TenantScope.CurrentTenant;
            tags.Add("tenant", tenant is null || tagged.Contains(tenant) ? tenant : "(unmapped)");
        }

        Decisions.Add(1, tags);
        if (decision.Reason is RouteDecisionReason.LagAboveLimit or RouteDecisionReason.LagUnknown or RouteDecisionReason.AsyncReplicasUnavailable or RouteDecisionReason.ReplicasUnavailable)
        {
            Fallbacks.Add(1, tags);
        }
    }
}
