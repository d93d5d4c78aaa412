using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.OpenTelemetry;

/// <summary>One line brings RoutingSdk's meter and decision events to an OpenTelemetry exporter.</summary>
public sealed class InstrumentationTests
{
    private static ServiceProvider Router()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddQueryRouting(o =>
        {
            o.Health.Enabled = false; // the hosts do not exist: a monitor would evict sync1 while the test counts
            o.Pools.Add(new RoutingPoolOptions { Name = "primary", Role = PoolRole.Primary, ConnectionString = "Host=127.0.0.1;Port=1" });
            o.Pools.Add(new RoutingPoolOptions { Name = "otel-sync1", Role = PoolRole.SyncReplica, ConnectionString = "Host=127.0.0.1;Port=2" });
        });
        return services.BuildServiceProvider();
    }

    [Fact]
    public void Meter_provider_exports_routing_decisions_with_their_tags()
    {
        var exported = new List<Metric>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddRoutingSdkInstrumentation().AddInMemoryExporter(exported).Build();
        using var provider = Router();
        var router = provider.GetRequiredService<QueryRouter>();
        using (RoutingScope.Begin(RouteKind.ReadReplica, "Sales.Report", RoutingCategory.Report))
        {
            router.Decide(new RouteRequest(IsWrite: false, InTransaction: false));
            router.Decide(new RouteRequest(IsWrite: false, InTransaction: false));
        }

        meters.ForceFlush();
        // One stream per live Meter named "RoutingSdk": routers of tests running in parallel have their own, and an export
        // may have happened before the flush (cumulative sums). This router's pool appears in one stream, counted once.
        var totals = new List<long>();
        foreach (var decisions in exported.Where(m => m.Name == "routing.decisions"))
        {
            long total = 0;
            foreach (ref readonly var point in decisions.GetMetricPoints())
            {
                var tags = new Dictionary<string, object?>();
                foreach (var tag in point.Tags)
                {
                    tags[tag.Key] = tag.Value;
                }

                if ((string?)tags["pool"] == "otel-sync1")
                {
                    Assert.Equal("Report", tags["category"]);
                    total += point.GetSumLong();
                }
            }

            totals.Add(total);
        }

        Assert.NotEmpty(totals);
        Assert.Equal(2, totals.Max());
    }

    [Fact]
    public void Tracer_provider_records_npgsql_spans_and_the_decision_event_on_the_current_span()
    {
        var spans = new List<Activity>();
        using var source = new ActivitySource("ErpApp");
        using var tracer = Sdk.CreateTracerProviderBuilder().AddSource("ErpApp").AddRoutingSdkInstrumentation().AddInMemoryExporter(spans).Build();
        using var listenerCheck = new ActivitySource(RoutingSdkInstrumentationExtensions.NpgsqlActivitySource);
        Assert.True(listenerCheck.HasListeners()); // Npgsql's command spans are recorded

        using var provider = Router();
        var router = provider.GetRequiredService<QueryRouter>();
        using (var span = source.StartActivity("BuildSalesReport"))
        using (RoutingScope.Begin(RouteKind.ReadReplica, "Sales.Report", RoutingCategory.Report))
        {
            router.Decide(new RouteRequest(IsWrite: false, InTransaction: false));
        }

        tracer.ForceFlush();
        var exportedSpan = Assert.Single(spans, a => a.Source.Name == "ErpApp"); // Npgsql spans of other tests may be exported too
        var decision = Assert.Single(exportedSpan.Events, e => e.Name == "routing.decision");
        Assert.Equal("otel-sync1", decision.Tags.Single(t => t.Key == "routing.pool").Value);
        Assert.Equal("Sales.Report", decision.Tags.Single(t => t.Key == "routing.scenario").Value);
    }
}
