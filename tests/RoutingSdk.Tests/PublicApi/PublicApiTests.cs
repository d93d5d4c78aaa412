namespace RoutingSdk.Tests.PublicApi;

/// <summary>
/// The public API itself is declared in src/&lt;Project&gt;/PublicAPI.Shipped.txt and PublicAPI.Unshipped.txt and
/// enforced at build time by Microsoft.CodeAnalysis.PublicApiAnalyzers (RS0016/RS0017 are errors; see
/// docs/releasing.md), which replaced the reflection snapshot this class used to hold. What stays here is the
/// design rule the analyzer cannot know: the engine's implementation types never become public, even on purpose.
/// </summary>
public sealed class PublicApiTests
{
    [Fact]
    public void Implementation_types_stay_internal()
    {
        var exported = typeof(RoutingScope).Assembly.GetExportedTypes().Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in new[] { "QueryRouter", "RoutingTopology", "PoolHealthMonitor", "RoutingPool", "CausalReadGate", "OperationState" })
        {
            Assert.DoesNotContain(name, exported);
        }
    }
}
