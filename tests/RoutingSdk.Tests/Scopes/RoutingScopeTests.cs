namespace RoutingSdk.Tests.Scopes;

public sealed class RoutingScopeTests
{
    [Fact]
    public void No_scope_outside_Begin()
    {
        Assert.Null(RoutingScope.Current);
    }

    [Fact]
    public void Begin_sets_current_and_Dispose_restores_the_outer_scope()
    {
        using var outer = RoutingScope.Begin(RouteKind.ReadReplica, "Outer.Op", RoutingCategory.Report);
        var inner = RoutingScope.Begin(RouteKind.MasterOnly, "Inner.Op");
        Assert.Same(inner, RoutingScope.Current);
        inner.Dispose();
        Assert.Same(outer, RoutingScope.Current);
        inner.Dispose(); // a second dispose changes nothing
        Assert.Same(outer, RoutingScope.Current);
    }

    [Theory]
    [InlineData(RouteKind.MasterOnly, RouteKind.ReadReplica, RouteKind.MasterOnly, true)]
    [InlineData(RouteKind.MasterOnly, RouteKind.AsyncReplica, RouteKind.MasterOnly, true)]
    [InlineData(RouteKind.ReadReplica, RouteKind.AsyncReplica, RouteKind.ReadReplica, true)]
    [InlineData(RouteKind.ReadReplica, RouteKind.MasterOnly, RouteKind.MasterOnly, false)]
    [InlineData(RouteKind.AsyncReplica, RouteKind.ReadReplica, RouteKind.ReadReplica, false)]
    [InlineData(RouteKind.AsyncReplica, RouteKind.Default, RouteKind.AsyncReplica, false)]
    [InlineData(RouteKind.MasterOnly, RouteKind.Default, RouteKind.MasterOnly, false)]
    [InlineData(RouteKind.Default, RouteKind.AsyncReplica, RouteKind.AsyncReplica, false)]
    public void Nested_scopes_only_get_stricter_and_record_weaker_requests(RouteKind outerRoute, RouteKind innerRoute, RouteKind expected, bool overridden)
    {
        using var outer = RoutingScope.Begin(outerRoute);
        using var inner = RoutingScope.Begin(innerRoute);
        Assert.Equal(expected, inner.Route);
        Assert.Equal(innerRoute, inner.RequestedRoute);
        Assert.Equal(overridden, inner.IsOverridden);
    }

    [Fact]
    public void Inner_scope_inherits_scenario_and_category_when_not_given_and_keeps_the_smallest_lag_limit()
    {
        using var outer = RoutingScope.Begin(RouteKind.AsyncReplica, "Invoice.Print", RoutingCategory.PrintForm, maxLagMilliseconds: 5_000);
        using var inner = RoutingScope.Begin(RouteKind.AsyncReplica, maxLagMilliseconds: 1_000);
        Assert.Equal(("Invoice.Print", RoutingCategory.PrintForm, 1_000), (inner.Scenario, inner.Category, inner.MaxLagMilliseconds));
        using var innermost = RoutingScope.Begin(RouteKind.Default, "Other.Step", RoutingCategory.Report);
        Assert.Equal(("Other.Step", RoutingCategory.Report, 1_000), (innermost.Scenario, innermost.Category, innermost.MaxLagMilliseconds));
    }

    [Fact]
    public async Task Scope_flows_into_awaited_work_and_not_back_to_the_caller()
    {
        Assert.Null(RoutingScope.Current);
        var seen = await RunInScopeAsync();
        Assert.Equal(RouteKind.ReadReplica, seen);
        Assert.Null(RoutingScope.Current);

        static async Task<RouteKind?> RunInScopeAsync()
        {
            using var scope = RoutingScope.Begin(RouteKind.ReadReplica);
            await Task.Yield();
            return RoutingScope.Current?.Route;
        }
    }

    [Fact]
    public async Task Async_work_started_in_a_scope_keeps_its_route_after_the_caller_disposed_it()
    {
        var gate = new TaskCompletionSource();
        Task<RouteKind?> work;
        using (RoutingScope.Begin(RouteKind.MasterOnly))
        {
            work = Observe(gate.Task);
        }

        Assert.Null(RoutingScope.Current);
        gate.SetResult();
        Assert.Equal(RouteKind.MasterOnly, await work);

        static async Task<RouteKind?> Observe(Task gate)
        {
            await gate;
            return RoutingScope.Current?.Route;
        }
    }

    [Fact]
    public async Task Concurrent_flows_do_not_see_each_other_scopes()
    {
        var routes = new[] { RouteKind.MasterOnly, RouteKind.ReadReplica, RouteKind.AsyncReplica, RouteKind.Default };
        var tasks = Enumerable.Range(0, 400).Select(async i =>
        {
            var route = routes[i % routes.Length];
            using var scope = RoutingScope.Begin(route, $"Op{i}");
            for (var step = 0; step < 5; step++)
            {
                await Task.Yield();
                if (RoutingScope.Current?.Scenario != $"Op{i}" || RoutingScope.Current.Route != route)
                {
                    return false;
                }
            }

            return true;
        });
        Assert.All(await Task.WhenAll(tasks), Assert.True);
    }

    [Fact]
    public void Disposing_an_outer_scope_also_ends_leaked_inner_scopes()
    {
        var outer = RoutingScope.Begin(RouteKind.ReadReplica);
        _ = RoutingScope.Begin(RouteKind.MasterOnly); // leaked
        outer.Dispose();
        Assert.Null(RoutingScope.Current);
    }

    [Fact]
    public void Bad_arguments_are_rejected_with_the_fix()
    {
        Assert.Contains("ReadReplica", Assert.Throws<ArgumentOutOfRangeException>(() => RoutingScope.Begin((RouteKind)42)).Message);
        Assert.Contains("inherit", Assert.Throws<ArgumentException>(() => RoutingScope.Begin(RouteKind.ReadReplica, " ")).Message);
        Assert.Contains("> 0", Assert.Throws<ArgumentOutOfRangeException>(() => RoutingScope.Begin(RouteKind.AsyncReplica, maxLagMilliseconds: 0)).Message);
        Assert.Contains("Report", Assert.Throws<ArgumentOutOfRangeException>(() => RoutingScope.Begin(RouteKind.ReadReplica, category: (RoutingCategory)9)).Message);
        Assert.Null(RoutingScope.Current);
    }
}
