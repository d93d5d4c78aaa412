using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.DependencyInjection;

public sealed class RoutedServiceTests
{
    private static ServiceProvider Build(Action<IQueryRoutingBuilder> register, ILoggerProvider? logger = null)
    {
        var services = new ServiceCollection();
        if (logger is not null)
        {
            services.AddLogging(b => b.AddProvider(logger));
        }

        // No servers here: these tests check interception, not health (a monitor would evict the unreachable pools).
        register(services.AddQueryRouting(o =>
        {
            o.Pools.AddRange(TestTopologies.Standard().Pools);
            o.Health.Enabled = false;
        }));
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
    }

    private static ServiceProvider Standard(ILoggerProvider? logger = null) => Build(b => b
        .AddRoutedService<ISalesReport, SalesReport>()
        .AddRoutedService<IPrecedence, Precedence>()
        .AddRoutedService<IOrderEntry, OrderEntry>()
        .AddRoutedService<CatalogReport, CatalogReport>(), logger);

    [Fact]
    public void Class_proxy_constructs_its_transient_dependency_once()
    {
        using var sp = Build(b =>
        {
            b.Services.AddTransient<CountedDependency>();
            b.AddRoutedService<ReportWithTransientDependency, ReportWithTransientDependency>();
        });
        using var scope = sp.CreateScope();
        var before = CountedDependency.Created;
        var report = scope.ServiceProvider.GetRequiredService<ReportWithTransientDependency>();
        Assert.Equal(1, CountedDependency.Created - before);
        Assert.Equal(RouteKind.ReadReplica, report.Build().Route);
    }

    [Fact]
    public void Synchronous_method_runs_inside_the_route_with_category_and_default_scenario()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        var seen = scope.ServiceProvider.GetRequiredService<ISalesReport>().Build();
        Assert.Equal(new Seen(RouteKind.ReadReplica, RoutingCategory.Report, "SalesReport.Build", false), seen);
        Assert.Null(RoutingScope.Current);
    }

    [Fact]
    public async Task Task_method_keeps_the_route_across_awaits_and_leaves_the_callers_route_untouched()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        var report = scope.ServiceProvider.GetRequiredService<ISalesReport>();
        using (RoutingScope.Begin(RouteKind.AsyncReplica, "Caller.Op"))
        {
            var seen = await report.BuildAsync();
            Assert.Equal(RouteKind.ReadReplica, seen.Route);
            Assert.Equal("SalesReport.BuildAsync", seen.Scenario);
            Assert.Equal(("Caller.Op", RouteKind.AsyncReplica), (RoutingScope.Current?.Scenario, RoutingScope.Current?.Route));
            Assert.Equal(RouteKind.ReadReplica, (await report.BuildValueAsync()).Route);
        }

        Assert.Null(RoutingScope.Current);
    }

    [Fact]
    public async Task Async_stream_consumed_after_the_call_returned_still_runs_in_the_route()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        var stream = scope.ServiceProvider.GetRequiredService<ISalesReport>().StreamAsync();
        Assert.Null(RoutingScope.Current);
        var seen = new List<Seen>();
        await foreach (var item in stream)
        {
            seen.Add(item);
            Assert.Null(RoutingScope.Current); // the caller's own code is not inside the report's route
        }

        Assert.Equal(3, seen.Count);
        Assert.All(seen, s => Assert.Equal((RouteKind.ReadReplica, "SalesReport.StreamAsync"), (s.Route, s.Scenario)));
    }

    [Fact]
    public void Iterator_is_enumerated_in_the_route_and_materialized_collections_are_not_wrapped()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        var report = scope.ServiceProvider.GetRequiredService<ISalesReport>();
        var items = report.Iterate();
        Assert.All(items.ToList(), s => Assert.Equal(RouteKind.ReadReplica, s.Route));
        Assert.IsType<List<Seen>>(report.Materialized());
    }

    [Fact]
    public void Deferred_query_is_warned_once_per_method()
    {
        var logger = new ListLoggerProvider();
        using var sp = Standard(logger);
        using var scope = sp.CreateScope();
        var report = scope.ServiceProvider.GetRequiredService<ISalesReport>();
        report.Deferred();
        report.Deferred();
        var warning = Assert.Single(logger.Messages, m => m.Contains("returns an IQueryable", StringComparison.Ordinal));
        Assert.Contains("SalesReport.Deferred", warning);
    }

    [Fact]
    public void Exception_inside_a_routed_method_leaves_no_scope_behind()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        Assert.Throws<InvalidOperationException>(() => scope.ServiceProvider.GetRequiredService<ISalesReport>().Fail());
        Assert.Null(RoutingScope.Current);
    }

    [Fact]
    public void Precedence_is_implementation_method_then_interface_method_then_class_then_interface()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        var p = scope.ServiceProvider.GetRequiredService<IPrecedence>();
        Assert.Equal((RouteKind.ReadReplica, "Precedence.Class"), (p.FromInterfaceType().Route, p.FromInterfaceType().Scenario));
        var fromInterfaceMethod = p.FromInterfaceMethod();
        Assert.Equal((RouteKind.AsyncReplica, "Precedence.FromInterfaceMethod"), (fromInterfaceMethod.Route, fromInterfaceMethod.Scenario));
        Assert.Equal((RouteKind.MasterOnly, "Precedence.Method"), (p.FromImplementationMethod().Route, p.FromImplementationMethod().Scenario));
    }

    [Fact]
    public void Interface_method_lag_limit_flows_into_the_scope()
    {
        using var sp = Build(b => b.AddRoutedService<IPrecedence, LagProbe>());
        using var scope = sp.CreateScope();
        scope.ServiceProvider.GetRequiredService<IPrecedence>().FromInterfaceMethod();
        Assert.Equal(5_000, LagProbe.LastLimit);
    }

    [Fact]
    public void MasterOnly_interface_calling_a_ReadReplica_report_keeps_it_on_the_primary_route()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        var seen = scope.ServiceProvider.GetRequiredService<IOrderEntry>().SaveAndReport();
        Assert.Equal(new Seen(RouteKind.MasterOnly, RoutingCategory.Report, "SalesReport.Build", true), seen);
    }

    [Fact]
    public void Class_proxy_routes_virtual_methods_and_leaves_unannotated_ones_alone()
    {
        using var sp = Standard();
        using var scope = sp.CreateScope();
        var catalog = scope.ServiceProvider.GetRequiredService<CatalogReport>();
        Assert.NotEqual(typeof(CatalogReport), catalog.GetType());
        Assert.Equal(RouteKind.ReadReplica, catalog.Build().Route);
        Assert.Null(catalog.Unrouted().Route);
    }

    [Fact]
    public async Task Two_hundred_concurrent_calls_each_see_only_their_own_route()
    {
        using var sp = Standard();
        var tasks = Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            using var scope = sp.CreateScope();
            return (i % 4) switch
            {
                0 => (RouteKind.ReadReplica, await scope.ServiceProvider.GetRequiredService<ISalesReport>().BuildAsync()),
                1 => (RouteKind.MasterOnly, scope.ServiceProvider.GetRequiredService<IOrderEntry>().SaveAndReport()),
                2 => (RouteKind.AsyncReplica, scope.ServiceProvider.GetRequiredService<IPrecedence>().FromInterfaceMethod()),
                _ => (RouteKind.ReadReplica, scope.ServiceProvider.GetRequiredService<CatalogReport>().Build()),
            };
        }));
        foreach (var (expected, seen) in await Task.WhenAll(tasks))
        {
            Assert.Equal(expected, seen.Route);
        }
    }

    [Fact]
    public void Bare_implementation_is_not_resolvable_and_is_disposed_with_its_scope()
    {
        using var sp = Standard();
        var before = SalesReport.Disposed;
        using (var scope = sp.CreateScope())
        {
            Assert.Null(scope.ServiceProvider.GetService<SalesReport>());
            var proxy = scope.ServiceProvider.GetRequiredService<ISalesReport>();
            Assert.IsNotType<SalesReport>(proxy);
            proxy.Build();
        }

        Assert.True(SalesReport.Disposed > before);
    }

    [Fact]
    public void Non_interceptable_members_fail_registration_with_each_member_and_its_fix()
    {
        var ex = Assert.Throws<RoutingConfigurationException>(() => Build(b => b.AddRoutedService<NonVirtualReport, NonVirtualReport>()));
        string[] expected =
            [
                "NonVirtualReport.Static: a static method cannot be intercepted; remove the attribute or call it inside RoutingScope.Begin(...).",
                "NonVirtualReport.Build: a non-virtual method on a class proxy cannot be intercepted; make it virtual, or register NonVirtualReport through an interface.",
                "NonVirtualReport.Hidden: a private method cannot be intercepted; make it public virtual or remove the attribute.",
            ];
        Assert.Equal(expected.Order(), ex.Problems.Order());
    }

    [Fact]
    public void Sealed_class_and_attribute_off_the_interface_are_refused()
    {
        var sealedEx = Assert.Throws<RoutingConfigurationException>(() => Build(b => b.AddRoutedService<SealedReport, SealedReport>()));
        Assert.Equal("SealedReport: a sealed class without an interface cannot be proxied; remove 'sealed' or register it through an interface (AddRoutedService<ISealedReport, SealedReport>).", Assert.Single(sealedEx.Problems));

        var offInterface = Assert.Throws<RoutingConfigurationException>(() => Build(b => b.AddRoutedService<IStockReport, StockReport>()));
        Assert.StartsWith("StockReport.NotOnInterface: the attribute cannot take effect because the method is not a member of IStockReport", Assert.Single(offInterface.Problems));
    }

    [Fact]
    public void Assembly_scan_lists_every_problem_of_every_type()
    {
        var ex = Assert.Throws<RoutingConfigurationException>(() => Build(b => b.AddRoutedServicesFromAssembly(typeof(SalesReport).Assembly)));
        Assert.Contains(ex.Problems, p => p.StartsWith("NonVirtualReport.Build:", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("SealedReport:", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("StockReport.NotOnInterface:", StringComparison.Ordinal));
        Assert.DoesNotContain(ex.Problems, p => p.StartsWith("SalesReport", StringComparison.Ordinal) || p.StartsWith("CatalogReport", StringComparison.Ordinal));
    }

    public sealed class LagProbe : IPrecedence
    {
        public static int? LastLimit;

        public Seen FromInterfaceType() => Observe.Now();

        public Seen FromInterfaceMethod()
        {
            LastLimit = RoutingScope.Current?.MaxLagMilliseconds;
            return Observe.Now();
        }

        public Seen FromImplementationMethod() => Observe.Now();
    }

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public List<string> Messages { get; } = [];

        public ILogger CreateLogger(string categoryName) => new ListLogger(this);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ListLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    lock (owner.Messages)
                    {
                        owner.Messages.Add(formatter(state, exception));
                    }
                }
            }
        }
    }
}
