using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OpenTelemetry;

/// <summary>Adds RoutingSdk's telemetry to OpenTelemetry providers.</summary>
public static class RoutingSdkInstrumentationExtensions
{
    /// <summary>The name of RoutingSdk's meter.</summary>
    public const string MeterName = "RoutingSdk";

    /// <summary>The name of Npgsql's activity source (one span per command, tagged with the server that ran it).</summary>
    public const string NpgsqlActivitySource = "Npgsql";

    /// <summary>
    /// Exports RoutingSdk's meter: <c>routing.decisions</c> (tagged pool, reason, route, category), <c>routing.retries</c>,
    /// <c>routing.fallbacks</c>, <c>routing.evictions</c> and <c>routing.commits.unconfirmed</c>.
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The builder.</returns>
    public static MeterProviderBuilder AddRoutingSdkInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(MeterName);
    }

    /// <summary>
    /// Records Npgsql's command spans, so each query shows the node that ran it. RoutingSdk adds a <c>routing.decision</c>
    /// event (pool, reason, route, category, scenario) to the span that is current when it routes a connection — your
    /// request's or operation's span — whenever that span is recorded.
    /// </summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The builder.</returns>
    public static TracerProviderBuilder AddRoutingSdkInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(NpgsqlActivitySource);
    }
}
