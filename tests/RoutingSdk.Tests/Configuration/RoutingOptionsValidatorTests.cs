using RoutingSdk.Configuration;
using RoutingSdk.Tests.Routing;

namespace RoutingSdk.Tests.Configuration;

public sealed class RoutingOptionsValidatorTests
{
    private static List<string> Problems(Action<RoutingOptions> mutate)
    {
        var options = TestTopologies.Standard();
        mutate(options);
        return RoutingOptionsValidator.Collect(options);
    }

    [Fact]
    public void Standard_topology_is_valid()
    {
        Assert.Empty(RoutingOptionsValidator.Collect(TestTopologies.Standard()));
    }

    [Fact]
    public void Empty_pool_list_says_what_to_add()
    {
        var problems = RoutingOptionsValidator.Collect(new RoutingOptions());
        Assert.Equal(["RoutingOptions.Pools is empty: add a Primary pool (the WritePool) and at least one read pool, or import a global3config.xml."], problems);
    }

    [Fact]
    public void No_pool_accepting_transactions()
    {
        var problems = Problems(o => o.Pools.RemoveAt(0));
        Assert.Contains(problems, p => p.StartsWith("No pool accepts transactions: add a pool with Role=Primary", StringComparison.Ordinal));
    }

    [Fact]
    public void Duplicate_names()
    {
        var problems = Problems(o => o.Pools[2].Name = "SYNC1");
        Assert.Contains("Pool 'SYNC1': the name is used by more than one pool; pool names must be unique (case-insensitive).", problems);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    public void UsageRatio_must_be_positive(double ratio)
    {
        var problems = Problems(o => o.Pools[1].UsageRatio = ratio);
        Assert.Contains(problems, p => p.StartsWith($"Pool 'sync1': UsageRatio must be > 0 (was {ratio}).", StringComparison.Ordinal));
    }

    [Fact]
    public void Async_replica_accepting_no_tx_sessions_is_rejected()
    {
        var problems = Problems(o => o.Pools[3].AcceptNoTxSession = true);
        Assert.Contains(problems, p => p.StartsWith("Pool 'async1': an AsyncReplica pool must not accept no-transaction sessions", StringComparison.Ordinal) && p.EndsWith("Set AcceptNoTxSession=false.", StringComparison.Ordinal));
    }

    [Fact]
    public void Replica_accepting_transactions_is_rejected()
    {
        var problems = Problems(o => o.Pools[1].AcceptTxSession = true);
        Assert.Contains("Pool 'sync1': AcceptTxSession is true but Role is SyncReplica; transactions and writes must run on the primary. Set AcceptTxSession=false or Role=Primary.", problems);
    }

    [Fact]
    public void Unparsable_connection_string_is_named_without_echoing_the_password()
    {
        var problems = Problems(o => o.Pools[1].ConnectionString = "Host=x;Password=hunter2;Bogus Keyword=1");
        var problem = Assert.Single(problems);
        Assert.StartsWith("Pool 'sync1': ConnectionString cannot be parsed by Npgsql:", problem);
        Assert.Contains("bogus keyword", problem, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("hunter2", problem);
    }

    [Fact]
    public void Missing_connection_string_and_host()
    {
        var problems = Problems(o =>
        {
            o.Pools[1].ConnectionString = "";
            o.Pools[2].ConnectionString = "Database=erp";
        });
        Assert.Contains(problems, p => p.StartsWith("Pool 'sync1': ConnectionString is required", StringComparison.Ordinal));
        Assert.Contains("Pool 'sync2': ConnectionString has no Host; add Host=<server or balancer address>.", problems);
    }

    [Fact]
    public void Unknown_pool_in_override()
    {
        var problems = Problems(o => o.Overrides.Categories[RoutingCategory.Report] = new RouteOverride { Pool = "ReportReplica" });
        Assert.Contains("Overrides.Categories.Report: Pool 'ReportReplica' is not defined; known pools: WritePool, sync1, sync2, async1.", problems);
    }

    [Fact]
    public void Override_needs_a_route_or_a_pool_and_a_real_route()
    {
        var problems = Problems(o =>
        {
            o.Overrides.Scenarios["Invoice.Print"] = new RouteOverride();
            o.Overrides.Scenarios["Sales.Report"] = new RouteOverride { Route = RouteKind.Default };
            o.Overrides.Scenarios["Stock.Report"] = new RouteOverride { Pool = "WritePool" };
        });
        Assert.Contains("Overrides.Scenarios.Invoice.Print: set Route (MasterOnly, ReadReplica or AsyncReplica) or Pool (a read pool's name).", problems);
        Assert.Contains("Overrides.Scenarios.Sales.Report: Route must be MasterOnly, ReadReplica or AsyncReplica (was Default).", problems);
        Assert.Contains(problems, p => p.StartsWith("Overrides.Scenarios.Stock.Report: Pool 'WritePool' does not serve reads outside transactions", StringComparison.Ordinal));
    }

    [Fact]
    public void Sizing_conflicts_and_ranges()
    {
        var problems = Problems(o =>
        {
            o.Pools[1].MinPoolSize = 20;
            o.Pools[1].MaxPoolSize = 10;
            o.Pools[2].MaxPoolSize = 50;
            o.Pools[2].ConnectionString += ";Maximum Pool Size=70";
            o.Pools[3].PoolTimeoutSeconds = -1;
        });
        Assert.Contains("Pool 'sync1': MinPoolSize (20) is larger than MaxPoolSize (10).", problems);
        Assert.Contains("Pool 'sync2': MaxPoolSize is 50 but the connection string sets 'Maximum Pool Size=70'; set it in one place only.", problems);
        Assert.Contains("Pool 'async1': PoolTimeoutSeconds must be >= 0 (was -1).", problems);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var problems = Problems(o =>
        {
            o.Pools[0].Role = PoolRole.SyncReplica;
            o.Pools[0].AcceptTxSession = null;
            o.Pools[1].UsageRatio = 0;
            o.Pools[3].AcceptNoTxSession = true;
        });
        Assert.Equal(3, problems.Count);
    }

    [Fact]
    public void Sizing_is_applied_to_the_connection_string()
    {
        var options = TestTopologies.Standard();
        options.Pools[1].MinPoolSize = 5;
        options.Pools[1].MaxPoolSize = 110;
        options.Pools[1].PoolTimeoutSeconds = 2;
        options.Pools[1].InactiveConnectionTimeoutSeconds = 30;
        var pool = RoutingSdk.Routing.RoutingTopology.Build(options, new Pools.PoolHealthRegistry()).FindPool("sync1")!;
        var csb = new Npgsql.NpgsqlConnectionStringBuilder(pool.ConnectionString);
        Assert.Equal((5, 110, 2, 30), (csb.MinPoolSize, csb.MaxPoolSize, csb.Timeout, csb.ConnectionIdleLifetime));
        Assert.Equal("sync1 (127.0.0.1:5433/erp)", pool.DisplayName);
    }
}
