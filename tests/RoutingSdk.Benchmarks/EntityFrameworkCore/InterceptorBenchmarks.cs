using BenchmarkDotNet.Attributes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.EntityFrameworkCore.Interception;

namespace RoutingSdk.Benchmarks.EntityFrameworkCore;

public sealed class BenchDb(DbContextOptions<BenchDb> options) : DbContext(options);

/// <summary>
/// The EF Core interceptor path without I/O: the open-time decision (state lookup, route, connection-string switch)
/// and the close-time restore, on a closed NpgsqlConnection — what every routed query adds before it touches the wire.
/// </summary>
[MemoryDiagnoser]
public class InterceptorBenchmarks
{
    private ServiceProvider _provider = null!;
    private IServiceScope _scope = null!;
    private BenchDb _db = null!;
    private NpgsqlConnection _connection = null!;
    private EfRoutingCore _core = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = "Host=127.0.0.1;Port=5432;Database=erp" });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = "Host=127.0.0.1;Port=5433;Database=erp" });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = "Host=127.0.0.1;Port=5434;Database=erp" });
        });
        services.AddDbContext<BenchDb>((sp, o) => o.UseNpgsql("Host=127.0.0.1;Port=5432;Database=erp").UseQueryRouting(sp));
        _provider = services.BuildServiceProvider();
        _scope = _provider.CreateScope();
        _db = _scope.ServiceProvider.GetRequiredService<BenchDb>();
        _connection = (NpgsqlConnection)_db.Database.GetDbConnection();
        _core = QueryRoutingOptionsExtension.For(_db);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _scope.Dispose();
        _provider.Dispose();
    }

    [Benchmark(Baseline = true)]
    public string SetConnectionStringOnly()
    {
        // What any per-query node switch costs at minimum: two assignments of a closed connection's string.
        _connection.ConnectionString = "Host=127.0.0.1;Port=5433;Database=erp";
        _connection.ConnectionString = "Host=127.0.0.1;Port=5432;Database=erp";
        return _connection.ConnectionString;
    }

    [Benchmark]
    public string RoutedOpenAndClose()
    {
        _core.OnOpening(_db);
        EfRoutingCore.OnClosed(_db);
        return _db.Database.GetDbConnection().ConnectionString;
    }
}
