using RoutingSdk.Configuration;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.Configuration;

/// <summary>Every remaining validation message, each naming the setting, the value and the fix.</summary>
public sealed class RemainingValidationMessagesTests
{
    public static TheoryData<string, string> Cases => new()
    {
        { "null-pool", "RoutingOptions.Pools[4] is null: remove the entry." },
        { "no-name", "Pools[1]: Name is required (e.g. \"WritePool\", \"ReadPool\")." },
        { "bad-role", "Pool 'sync1': Role must be Primary, SyncReplica or AsyncReplica (was 7)." },
        { "bad-default-route", "RoutingOptions.DefaultRoute must be ReadReplica or Primary (was 5)." },
        { "bad-category", "Overrides.Categories: unknown category '9'; use Interface, Report, PrintForm or Other." },
        { "empty-scenario", "Overrides.Scenarios: a scenario name is empty; use the scenario of the operation (Type.Method by default)." },
        { "async-override-without-async-pool", "Overrides.Scenarios.Invoice.Print: Route is AsyncReplica but no pool has Role=AsyncReplica; add one or choose ReadReplica/MasterOnly." },
        { "max-pool-size", "Pool 'sync2': MaxPoolSize must be >= 1 (was 0)." },
        { "idle-timeout", "Pool 'sync2': InactiveConnectionTimeoutSeconds must be >= 1 (was 0)." },
        { "pruning", "Pool 'sync2': PruningIntervalSeconds must be >= 1 (was 0)." },
        { "check-timeout", "Health.CheckTimeout must be > 0 (was 00:00:00)." },
        { "verify", "Health.VerifyTopologyAtStart must be Off, Warn or Fail (was 8)." },
        { "unconfirmed", "Consistency.OnUnconfirmedCommit must be Throw or Report (was 4)." },
        { "retries-too-many", "ReadRetry.MaxRetries must be between 0 and 10 (was 11); 2 retries reach another replica and then the primary." },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Message_names_setting_value_and_fix(string @case, string expected)
    {
        var options = TestTopologies.Standard();
        switch (@case)
        {
            case "null-pool": options.Pools.Add(null!); break;
            case "no-name": options.Pools[1].Name = " "; break;
            case "bad-role": options.Pools[1].Role = (PoolRole)7; break;
            case "bad-default-route": options.DefaultRoute = (DefaultRoute)5; break;
            case "bad-category": options.Overrides.Categories[(RoutingCategory)9] = new RouteOverride { Route = RouteKind.MasterOnly }; break;
            case "empty-scenario": options.Overrides.Scenarios[""] = new RouteOverride { Route = RouteKind.MasterOnly }; break;
            case "async-override-without-async-pool":
                options.Pools.RemoveAt(3);
                options.Overrides.Scenarios["Invoice.Print"] = new RouteOverride { Route = RouteKind.AsyncReplica };
                break;
            case "max-pool-size": options.Pools[2].MaxPoolSize = 0; break;
            case "idle-timeout": options.Pools[2].InactiveConnectionTimeoutSeconds = 0; break;
            case "pruning": options.Pools[2].PruningIntervalSeconds = 0; break;
            case "check-timeout": options.Health.CheckTimeout = TimeSpan.Zero; break;
            case "verify": options.Health.VerifyTopologyAtStart = (TopologyVerification)8; break;
            case "unconfirmed": options.Consistency.OnUnconfirmedCommit = (UnconfirmedCommitBehavior)4; break;
            case "retries-too-many": options.ReadRetry.MaxRetries = 11; break;
        }

        Assert.Contains(expected, RoutingOptionsValidator.Collect(options));
    }
}
