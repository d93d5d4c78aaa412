using RoutingSdk.Configuration;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.Configuration;

public sealed class BehaviourOptionsValidationTests
{
    [Fact]
    public void Retry_health_and_consistency_settings_are_validated_together()
    {
        var options = TestTopologies.Standard();
        options.ReadRetry.MaxRetries = -1;
        options.Health.Interval = TimeSpan.Zero;
        options.Health.ReadmitAfterConsecutiveChecks = 0;
        options.Consistency.CommitTimeout = TimeSpan.FromSeconds(-1);
        options.Consistency.ReadYourWritesMaxWait = TimeSpan.FromSeconds(-1);
        var problems = RoutingOptionsValidator.Collect(options);
        Assert.Contains("ReadRetry.MaxRetries must be between 0 and 10 (was -1); 2 retries reach another replica and then the primary.", problems);
        Assert.Contains("Health.Interval must be > 0 (was 00:00:00).", problems);
        Assert.Contains("Health.ReadmitAfterConsecutiveChecks must be >= 1 (was 0).", problems);
        Assert.Contains(problems, p => p.StartsWith("Consistency.CommitTimeout must be > 0 when set (was -00:00:01)", StringComparison.Ordinal));
        Assert.Contains("Consistency.ReadYourWritesMaxWait must not be negative (was -00:00:01).", problems);
    }
}
