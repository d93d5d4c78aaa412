using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.Routing;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.Diagnostics;

public sealed class RoutingMetricsTests
{
    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Scope = this });
            _meters.Add(meter);
            return meter;
        }

        public void Dispose() => _meters.ForEach(m => m.Dispose());
    }

    [Fact]
    public void Each_service_provider_records_on_the_meter_of_its_own_IMeterFactory()
    {
        using var factoryA = new TestMeterFactory();
        using var factoryB = new TestMeterFactory();
        ServiceProvider Provider(IMeterFactory factory)
        {
            var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
            services.AddSingleton(factory);
            services.AddQueryRouting(o => o.Pools.AddRange(TestTopologies.Standard().Pools));
            return services.BuildServiceProvider();
        }

        using var a = Provider(factoryA);
        using var b = Provider(factoryB);
        var counts = new Dictionary<object, long> { [factoryA] = 0, [factoryB] = 0 };
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "RoutingSdk" && instrument.Name == "routing.decisions" && instrument.Meter.Scope is { } scope && counts.ContainsKey(scope))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (counts)
            {
                counts[instrument.Meter.Scope!] += value;
            }
        });
        listener.Start();

        var routerA = a.GetRequiredService<QueryRouter>();
        _ = b.GetRequiredService<QueryRouter>();
        for (var i = 0; i < 5; i++)
        {
            routerA.Decide(RouteRequest.Write, null);
        }

        Assert.Equal((5L, 0L), (counts[factoryA], counts[factoryB]));
    }

    [Fact]
    public void Decisions_counter_is_tagged_with_pool_reason_route_and_category()
    {
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());
        var scenario = "MetricsTest." + Guid.NewGuid().ToString("N");
        var seen = new List<Dictionary<string, object?>>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "RoutingSdk" && instrument.Name == "routing.decisions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var map = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                map[tag.Key] = tag.Value;
            }

            if ((string?)map["pool"] == "WritePool" && (string?)map["category"] == "Interface")
            {
                lock (seen)
                {
                    seen.Add(map);
                }
            }
        });
        listener.Start();

        using (var scope = RoutingScope.Begin(RouteKind.MasterOnly, scenario, RoutingCategory.Interface))
        {
            router.Decide(RouteRequest.Read, scope);
        }

        var tags = Assert.Single(seen);
        Assert.Equal("MasterOnlyScope", tags["reason"]);
        Assert.Equal("MasterOnly", tags["route"]);
    }
}

public sealed class RoutingTraceTests
{
    [Fact]
    public void Decision_is_an_event_with_routing_tags_on_the_current_recorded_activity()
    {
        using var source = new System.Diagnostics.ActivitySource("RoutingSdk.Tests.Trace");
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var (router, _, _) = TestTopologies.Router(TestTopologies.Standard());

        using var activity = source.StartActivity("SalesReport.Build")!;
        using (var scope = RoutingScope.Begin(RouteKind.ReadReplica, "SalesReport.Build", RoutingCategory.Report))
        {
            router.Decide(RouteRequest.Read, scope);
        }

        var decision = Assert.Single(activity.Events, e => e.Name == "routing.decision");
        var tags = decision.Tags.ToDictionary(t => t.Key, t => t.Value);
        Assert.Equal(("ReadOutsideTransaction", "ReadReplica", "Report", "SalesReport.Build"),
            ((string?)tags["routing.reason"], (string?)tags["routing.route"], (string?)tags["routing.category"], (string?)tags["routing.scenario"]));
        Assert.Contains((string?)tags["routing.pool"], new[] { "sync1", "sync2" });
    }
}
