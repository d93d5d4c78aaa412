using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Configuration;

public sealed class AddQueryRoutingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("routingsdk-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static object Config(Dictionary<string, object>? overrides = null, double sync2Weight = 1) => new
    {
        Routing = new
        {
            DefaultRoute = "ReadReplica",
            Pools = new object[]
            {
                new { Name = "WritePool", Role = "Primary", ConnectionString = "Host=db;Database=erp;Username=app;Password=secret" },
                new { Name = "sync1", Role = "SyncReplica", ConnectionString = "Host=r1;Database=erp" },
                new { Name = "sync2", Role = "SyncReplica", ConnectionString = "Host=r2;Database=erp", UsageRatio = sync2Weight },
            },
            Overrides = new { Categories = overrides ?? [] },
            Health = new { Enabled = false }, // no servers here: a monitor would evict the unreachable pools
        },
    };

    private string Write(object config)
    {
        var path = Path.Combine(_dir, "appsettings.json");
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(config));
        File.Move(path + ".tmp", path, overwrite: true);
        return path;
    }

    [Fact]
    public void Binds_options_from_a_configuration_section()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Write(Config())).Build();
        using var provider = new ServiceCollection().AddQueryRouting(configuration.GetSection("Routing")).Services.BuildServiceProvider();
        var router = provider.GetRequiredService<QueryRouter>();
        Assert.Equal(["WritePool", "sync1", "sync2"], router.Topology.Pools.Select(p => p.Name));
        Assert.Equal(RouteDecisionReason.WriteCommand, router.Decide(RouteRequest.Write, null).Reason);
    }

    [Fact]
    public void Invalid_options_fail_at_start_listing_every_problem()
    {
        var services = new ServiceCollection().AddQueryRouting(o => o.Pools.Add(new RoutingPoolOptions { Name = "r", ConnectionString = "Host=r", UsageRatio = -1 })).Services;
        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<RoutingOptions>>().Value);
        Assert.Contains(ex.Failures, f => f.StartsWith("Pool 'r': UsageRatio must be > 0 (was -1).", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("No pool accepts transactions", StringComparison.Ordinal));
    }

    [Fact]
    public void Misspelt_configuration_key_is_an_error_not_ignored()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:Health:Enabled"] = "false", ["Routing:Pools:0:Name"] = "WritePool",
            ["Routing:Pools:0:Role"] = "Primary",
            ["Routing:Pools:0:ConnectionString"] = "Host=db",
            ["Routing:Pools:0:UsageRatoi"] = "3",
        }).Build();
        using var provider = new ServiceCollection().AddQueryRouting(configuration.GetSection("Routing")).Services.BuildServiceProvider();
        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IOptions<RoutingOptions>>().Value);
        Assert.Contains("'UsageRatoi'", ex.ToString());
    }

    [Fact]
    public async Task Override_in_a_changed_config_file_applies_to_the_next_decision_without_restart()
    {
        var path = Write(Config());
        var configuration = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: true).Build();
        await using var provider = new ServiceCollection().AddQueryRouting(configuration.GetSection("Routing")).Services.BuildServiceProvider();
        var router = provider.GetRequiredService<QueryRouter>();
        using var scope = RoutingScope.Begin(RouteKind.ReadReplica, "SalesReport.Build", RoutingCategory.Report);
        Assert.Equal(PoolRole.SyncReplica, router.Decide(RouteRequest.Read, scope).PoolRole);

        Write(Config(new() { ["Report"] = new { Route = "MasterOnly" } }));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        RouteDecision decision;
        while ((decision = router.Decide(RouteRequest.Read, scope)).PoolRole != PoolRole.Primary && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(("WritePool", RouteDecisionReason.OverriddenByConfiguration), (decision.PoolName, decision.Reason));
    }

    [Fact]
    public void Invalid_reload_is_rejected_and_the_previous_configuration_stays()
    {
        var source = new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Routing:Health:Enabled"] = "false", ["Routing:Pools:0:Name"] = "WritePool", ["Routing:Pools:0:Role"] = "Primary", ["Routing:Pools:0:ConnectionString"] = "Host=db",
                ["Routing:Pools:1:Name"] = "sync1", ["Routing:Pools:1:ConnectionString"] = "Host=r1",
            },
        };
        var configuration = new ConfigurationBuilder().Add(source).Build();
        using var provider = new ServiceCollection().AddQueryRouting(configuration.GetSection("Routing")).Services.BuildServiceProvider();
        var router = provider.GetRequiredService<QueryRouter>();

        configuration["Routing:Pools:1:UsageRatio"] = "-2";
        var ex = Record.Exception(configuration.Reload);
        Assert.Null(ex); // a bad edit must not crash the reload (file watcher) thread

        Assert.Equal("sync1", router.Decide(RouteRequest.Read, null).PoolName);
        Assert.Equal(1.0, router.Topology.FindPool("sync1")!.UsageRatio);
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:00:01")]
    public async Task Invalid_health_settings_arriving_by_reload_never_reach_the_monitor(string interval)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:Health:Enabled"] = "false", ["Routing:Pools:0:Name"] = "WritePool", ["Routing:Pools:0:Role"] = "Primary", ["Routing:Pools:0:ConnectionString"] = "Host=db",
            ["Routing:Pools:1:Name"] = "sync1", ["Routing:Pools:1:ConnectionString"] = "Host=r1",
            ["Routing:Health:Interval"] = "00:00:03",
        }).Build();
        await using var provider = new ServiceCollection().AddQueryRouting(configuration.GetSection("Routing")).Services.BuildServiceProvider();
        var monitor = provider.GetRequiredService<RoutingSdk.Health.PoolHealthMonitor>();
        Assert.Equal(TimeSpan.FromSeconds(3), monitor.Options.Interval);

        configuration["Routing:Health:Interval"] = interval;
        configuration.Reload();
        Assert.Equal(TimeSpan.FromSeconds(3), monitor.Options.Interval);

        configuration["Routing:Health:Interval"] = "00:00:07";
        configuration.Reload();
        Assert.Equal(TimeSpan.FromSeconds(7), monitor.Options.Interval); // a valid reload does arrive
    }

    [Fact]
    public void Misspelt_key_arriving_by_reload_is_logged_and_the_previous_configuration_stays()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:Health:Enabled"] = "false", ["Routing:Pools:0:Name"] = "WritePool", ["Routing:Pools:0:Role"] = "Primary", ["Routing:Pools:0:ConnectionString"] = "Host=db",
            ["Routing:Pools:1:Name"] = "sync1", ["Routing:Pools:1:ConnectionString"] = "Host=r1",
        }).Build();
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection().AddLogging(b => b.AddProvider(logs));
        services.AddQueryRouting(configuration.GetSection("Routing"));
        using var provider = services.BuildServiceProvider();
        var router = provider.GetRequiredService<QueryRouter>();

        configuration["Routing:Pools:1:UsageRatoi"] = "3";
        try
        {
            configuration.Reload();
        }
        catch (AggregateException)
        {
            // IOptionsMonitor's own callback throws on the reload thread (a file watcher swallows it); ours logs.
        }

        Assert.Contains(logs.Messages, m => m.Contains("reload rejected", StringComparison.Ordinal) && m.Contains("UsageRatoi", StringComparison.Ordinal));
        Assert.Equal("sync1", router.Decide(RouteRequest.Read, null).PoolName);
    }

    private sealed class CapturingLoggerProvider : Microsoft.Extensions.Logging.ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner) : Microsoft.Extensions.Logging.ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

            public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Messages.Enqueue(formatter(state, exception));
        }
    }

    [Fact]
    public void Vendor_xml_can_be_imported_through_the_builder()
    {
        var path = Path.Combine(_dir, "global3config.xml");
        File.WriteAllText(path, GlobalErpConfigurationTests.VendorSample);
        using var provider = new ServiceCollection().AddQueryRouting(o => o.Health.Enabled = false).AddGlobalErpConfiguration(path).Services.BuildServiceProvider();
        var router = provider.GetRequiredService<QueryRouter>();
        Assert.Equal(["WritePool", "ReadPool"], router.Topology.Pools.Select(p => p.Name));
    }
}
