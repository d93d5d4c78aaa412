using Npgsql;
using RoutingSdk.Health;
using RoutingSdk.Pools;

namespace RoutingSdk.Tests.Health;

/// <summary>What the health monitor leaves on the application's pools and on the primary.</summary>
public sealed class MonitorFootprintTests
{
    private static RoutingPool Pool(PoolDataSources dataSources, string connectionString = "Host=sync1.example;Port=5433;Username=app;Password=secret;Database=erp;Maximum Pool Size=40") =>
        new(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = connectionString }, connectionString,
            new PoolHealthRegistry().For("sync1"), dataSources);

    [Fact]
    public void Checks_use_a_data_source_of_their_own_never_the_applications_pool()
    {
        using var dataSources = new PoolDataSources();
        var pool = Pool(dataSources);

        Assert.NotSame(pool.DataSource, pool.HealthCheckDataSource);
        Assert.Same(pool.HealthCheckDataSource, pool.HealthCheckDataSource);
        Assert.Equal(2, dataSources.Count);

        var checks = new NpgsqlConnectionStringBuilder(pool.HealthCheckDataSource.ConnectionString);
        Assert.Equal(("sync1.example", 5433, "app", "erp"), (checks.Host, checks.Port, checks.Username, checks.Database)); // the pool's node and login
        Assert.Equal((1, 1), (checks.MaxPoolSize, checks.MinPoolSize)); // one connection per node, kept across rounds
        Assert.True(checks.NoResetOnClose); // no DISCARD ALL per round: the checks change no session state
        Assert.Equal("RoutingSdk health check", checks.ApplicationName);
        Assert.Equal(40, new NpgsqlConnectionStringBuilder(pool.DataSource.ConnectionString).MaxPoolSize); // the application's pool unchanged
    }

    [Fact]
    public void Retiring_a_node_retires_its_health_check_data_source_too()
    {
        using var dataSources = new PoolDataSources();
        var pool = Pool(dataSources);
        _ = pool.DataSource;
        _ = pool.HealthCheckDataSource;

        dataSources.Retire(pool.Name, pool.ConnectionString, TimeSpan.FromMilliseconds(1));

        Assert.Equal(0, dataSources.Count);
    }

    [Fact]
    public void Rounds_are_jittered_around_the_interval_so_instances_do_not_check_in_lockstep()
    {
        var interval = TimeSpan.FromSeconds(1);
        var random = new Random(42);
        var delays = Enumerable.Range(0, 1_000).Select(_ => PoolHealthMonitor.NextDelay(interval, random)).ToList();

        Assert.All(delays, d => Assert.InRange(d, TimeSpan.FromMilliseconds(900), TimeSpan.FromMilliseconds(1_100)));
        Assert.True(delays.Distinct().Count() > 900, "every round draws its own pause");
        Assert.InRange(delays.Average(d => d.TotalMilliseconds), 980, 1_020); // a round per interval on average
    }
}
