using System.Diagnostics.Metrics;
using RoutingSdk.Routing;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.Diagnostics;

public sealed class RoutingMetricsTests
{
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
