using System.Transactions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.EntityFrameworkCore;

[Collection(ClusterCollection.Name)]
public sealed class EfRoutingTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;
    private readonly NodeProbeInterceptor _probe = new();
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        await EfSchema.EnsureAsync(_cluster);
        _services = EfSchema.Services(_cluster, _probe);
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    public static TheoryData<RouteKind, string> ReadRoutes => new()
    {
        { RouteKind.Default, "sync" },
        { RouteKind.ReadReplica, "sync" },
        { RouteKind.AsyncReplica, "async1" },
        { RouteKind.MasterOnly, "primary" },
    };

    private static readonly string[] ReadOperations =
    [
        "LINQ", "Find", "Count", "Any", "FromSql", "SqlQuery", "SplitQuery", "Streaming", "LazyLoading",
    ];

    private async Task RunReadAsync(ErpTestDb db, string operation)
    {
        switch (operation)
        {
            case "LINQ":
                Assert.NotEmpty(await db.Customers.Where(c => c.Id == EfSchema.SeedCustomerId).ToListAsync());
                break;
            case "Find":
                Assert.NotNull(await db.Customers.FindAsync(EfSchema.SeedCustomerId));
                break;
            case "Count":
                Assert.True(await db.Orders.CountAsync(o => o.CustomerId == EfSchema.SeedCustomerId) >= 2);
                break;
            case "Any":
                Assert.True(await db.Orders.AnyAsync(o => o.CustomerId == EfSchema.SeedCustomerId));
                break;
            case "FromSql":
                Assert.Single(await db.Customers.FromSql($"SELECT * FROM ef_routing.customers WHERE id = {EfSchema.SeedCustomerId}").ToListAsync());
                break;
            case "SqlQuery":
                Assert.Single(await db.Database.SqlQuery<int>($"SELECT id AS \"Value\" FROM ef_routing.customers WHERE id = {EfSchema.SeedCustomerId}").ToListAsync());
                break;
            case "SplitQuery":
                var withOrders = await db.Customers.Include(c => c.Orders).AsSplitQuery().Where(c => c.Id == EfSchema.SeedCustomerId).SingleAsync();
                Assert.True(withOrders.Orders.Count >= 2);
                break;
            case "Streaming":
                var n = 0;
                await foreach (var _ in db.Orders.Where(o => o.CustomerId == EfSchema.SeedCustomerId).AsAsyncEnumerable())
                {
                    n++;
                }

                Assert.True(n >= 2);
                break;
            case "LazyLoading":
                var customer = await db.Customers.SingleAsync(c => c.Id == EfSchema.SeedCustomerId);
                _probe.Clear(); // only the lazy load itself below
                Assert.True(customer.Orders.Count >= 2);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(operation));
        }
    }

    [Theory]
    [MemberData(nameof(ReadRoutes))]
    public async Task Every_read_operation_outside_a_transaction_follows_the_route(RouteKind route, string expected)
    {
        foreach (var operation in ReadOperations)
        {
            await using var scope = _services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            _probe.Clear();
            using (RoutingScope.Begin(route, "EfRoutingTests." + operation))
            {
                await RunReadAsync(db, operation);
            }

            var nodes = _probe.Nodes;
            Assert.True(nodes.Count > 0, $"{operation}: no command was seen");
            Assert.All(nodes, node => Assert.True(
                expected == "sync" ? node is "sync1" or "sync2" : node == expected,
                $"{operation} under {route} ran on {node}, expected {expected}"));
        }
    }

    [Theory]
    [InlineData(RouteKind.Default)]
    [InlineData(RouteKind.ReadReplica)]
    [InlineData(RouteKind.AsyncReplica)]
    [InlineData(RouteKind.MasterOnly)]
    public async Task Every_write_goes_to_the_primary_in_every_route(RouteKind route)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        _probe.Clear();
        using (RoutingScope.Begin(route, "EfRoutingTests.Write"))
        {
            var customer = new Customer { Name = "Write test " + route };
            db.Customers.Add(customer);
            await db.SaveChangesAsync();
            Assert.Equal(1, await db.Customers.Where(c => c.Id == customer.Id).ExecuteUpdateAsync(s => s.SetProperty(c => c.Name, "Updated " + route)));
            await db.Database.ExecuteSqlRawAsync("UPDATE ef_routing.customers SET name = name || '!' WHERE id = {0}", customer.Id);
            Assert.Equal(1, await db.Customers.Where(c => c.Id == customer.Id).ExecuteDeleteAsync());
        }

        var writes = _probe.Seen.Where(s => s.Source is Microsoft.EntityFrameworkCore.Diagnostics.CommandSource.SaveChanges
            or Microsoft.EntityFrameworkCore.Diagnostics.CommandSource.ExecuteUpdate or Microsoft.EntityFrameworkCore.Diagnostics.CommandSource.ExecuteDelete
            or Microsoft.EntityFrameworkCore.Diagnostics.CommandSource.ExecuteSqlRaw).ToList();
        Assert.Equal(4, writes.Count);
        Assert.All(writes, w => Assert.Equal(("primary", false), (w.Node, w.InRecovery)));
    }

    [Theory]
    [InlineData(RouteKind.Default)]
    [InlineData(RouteKind.ReadReplica)]
    [InlineData(RouteKind.AsyncReplica)]
    public async Task Every_statement_inside_BeginTransaction_runs_on_the_primary_including_reads_before_the_first_write(RouteKind route)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        _probe.Clear();
        using (RoutingScope.Begin(route))
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            _ = await db.Customers.CountAsync();
            _ = await db.Database.SqlQuery<int>($"SELECT 1 AS \"Value\"").ToListAsync();
            db.Customers.Add(new Customer { Name = "In transaction" });
            await db.SaveChangesAsync();
            _ = await db.Customers.AnyAsync(c => c.Name == "In transaction");
            await tx.RollbackAsync();
        }

        Assert.True(_probe.Seen.Count >= 4);
        Assert.All(_probe.Nodes, n => Assert.Equal("primary", n));
    }

    [Fact]
    public async Task Statements_inside_a_TransactionScope_run_on_the_primary()
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        _probe.Clear();
        using (RoutingScope.Begin(RouteKind.ReadReplica))
        using (var ts = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
        {
            _ = await db.Customers.CountAsync();
            _ = await db.Orders.AnyAsync();
            ts.Complete();
        }

        Assert.Equal(2, _probe.Seen.Count);
        Assert.All(_probe.Nodes, n => Assert.Equal("primary", n));
    }

    [Fact]
    public async Task UseTransaction_statements_run_on_the_primary()
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        _probe.Clear();
        using (RoutingScope.Begin(RouteKind.ReadReplica))
        {
            var connection = db.Database.GetDbConnection();
            await connection.OpenAsync(); // bypasses EF: the connection keeps the primary string it was given
            await using var tx = await connection.BeginTransactionAsync();
            await db.Database.UseTransactionAsync(tx);
            _ = await db.Customers.CountAsync();
            await db.Database.ExecuteSqlRawAsync("SELECT 1");
            await tx.RollbackAsync();
        }

        Assert.Equal(2, _probe.Seen.Count);
        Assert.All(_probe.Nodes, n => Assert.Equal("primary", n));
    }

    [Fact]
    public async Task Connection_opened_by_the_caller_stays_on_the_primary()
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        _probe.Clear();
        using (RoutingScope.Begin(RouteKind.ReadReplica))
        {
            await db.Database.OpenConnectionAsync();
            _ = await db.Customers.CountAsync();
            db.Customers.Add(new Customer { Name = "User opened" });
            await db.SaveChangesAsync();
            await db.Database.CloseConnectionAsync();

            // After closing, the next read is routed again.
            _ = await db.Customers.CountAsync();
        }

        var nodes = _probe.Nodes;
        Assert.Equal(["primary", "primary"], nodes.Take(2));
        Assert.Contains(nodes[^1], new[] { "sync1", "sync2" });
    }

    [Fact]
    public async Task Write_while_a_streaming_query_holds_a_replica_connection_fails_fast_with_guidance()
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        using var _ = RoutingScope.Begin(RouteKind.ReadReplica);
        var ex = await Assert.ThrowsAsync<RoutingException>(async () =>
        {
            await foreach (var order in db.Orders.AsAsyncEnumerable())
            {
                db.Customers.Add(new Customer { Name = "never saved" });
                await db.SaveChangesAsync();
            }
        });
        Assert.Contains("read replica", ex.Message);
        Assert.Contains("ToList", ex.Message);
    }

    [Theory]
    [InlineData("AddDbContextPool")]
    [InlineData("AddPooledDbContextFactory")]
    public async Task Pooled_contexts_route_every_lease_and_return_the_connection_closed(string registration)
    {
        var probe = new NodeProbeInterceptor();
        await using var services = EfSchema.Services(_cluster, probe, registration: registration);
        for (var lease = 0; lease < 6; lease++)
        {
            await using var scope = services.CreateAsyncScope();
            await using var db = registration == "AddPooledDbContextFactory"
                ? await scope.ServiceProvider.GetRequiredService<IDbContextFactory<ErpTestDb>>().CreateDbContextAsync()
                : scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            probe.Clear();
            var route = lease % 2 == 0 ? RouteKind.MasterOnly : RouteKind.ReadReplica;
            using (RoutingScope.Begin(route))
            {
                _ = await db.Customers.CountAsync();
            }

            var node = Assert.Single(probe.Nodes);
            Assert.True(route == RouteKind.MasterOnly ? node == "primary" : node is "sync1" or "sync2", $"lease {lease} ({route}) ran on {node}");
            Assert.Equal(System.Data.ConnectionState.Closed, db.Database.GetDbConnection().State);
        }
    }

    [Fact]
    public async Task Plain_Npgsql_data_source_uses_replicas_only_for_explicit_routes()
    {
        var dataSource = _services.GetRequiredService<RoutingDataSource>();
        async Task<string> NodeAsync()
        {
            await using var conn = await dataSource.OpenConnectionAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT current_setting('cluster_name')", conn);
            return (string)(await cmd.ExecuteScalarAsync())!;
        }

        Assert.Equal("primary", await NodeAsync());
        using (RoutingScope.Begin(RouteKind.ReadReplica))
        {
            Assert.Contains(await NodeAsync(), new[] { "sync1", "sync2" });
            using (new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
            {
                Assert.Equal("primary", await NodeAsync());
            }
        }

        using (RoutingScope.Begin(RouteKind.AsyncReplica))
        {
            Assert.Equal("async1", await NodeAsync());
        }

        using (RoutingScope.Begin(RouteKind.MasterOnly))
        {
            Assert.Equal("primary", await NodeAsync());
        }
    }

    [Fact]
    public void UseQueryRouting_without_AddQueryRouting_says_what_to_call()
    {
        var services = new ServiceCollection().BuildServiceProvider();
        var ex = Assert.Throws<InvalidOperationException>(() => new DbContextOptionsBuilder<ErpTestDb>().UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(services));
        Assert.Contains("services.AddQueryRouting", ex.Message);
    }

    [Fact]
    public void Disabling_thread_safety_checks_is_refused_with_the_reason()
    {
        using var sp = RoutedContext(o => o.EnableThreadSafetyChecks(false));
        using var scope = sp.CreateScope();
        var ex = Assert.Throws<InvalidOperationException>(() => scope.ServiceProvider.GetRequiredService<ErpTestDb>().Customers.Count());
        Assert.Contains("EnableThreadSafetyChecks(false)", ex.Message);
    }

    [Fact]
    public void Replacing_the_relational_command_builder_factory_is_refused_with_the_reason() =>
        AssertReplacementRefused(
            o => o.ReplaceService<Microsoft.EntityFrameworkCore.Storage.IRelationalCommandBuilderFactory, Microsoft.EntityFrameworkCore.Storage.RelationalCommandBuilderFactory>(),
            "IRelationalCommandBuilderFactory", "DbCommandInterceptor");

#pragma warning disable EF1001 // the replacement a user might try
    [Fact]
    public void Replacing_the_relational_connection_is_refused_with_the_reason() =>
        AssertReplacementRefused(
            o => o.ReplaceService<Npgsql.EntityFrameworkCore.PostgreSQL.Storage.Internal.INpgsqlRelationalConnection, Npgsql.EntityFrameworkCore.PostgreSQL.Storage.Internal.NpgsqlRelationalConnection>(),
            "IRelationalConnection", "DbConnectionInterceptor");
#pragma warning restore EF1001

    /// <summary>RoutingSdk over this cluster's pools, and an ErpTestDb on it with <paramref name="configure"/> applied after UseQueryRouting.</summary>
    private ServiceProvider RoutedContext(Action<DbContextOptionsBuilder> configure)
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o => EfSchema.Pools(o, _cluster));
        services.AddDbContext<ErpTestDb>((sp, o) => configure(o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp)));
        return services.BuildServiceProvider();
    }

    private void AssertReplacementRefused(Action<DbContextOptionsBuilder> replace, string service, string alternative)
    {
        using var sp = RoutedContext(replace);
        using var scope = sp.CreateScope();
        var ex = Assert.Throws<InvalidOperationException>(() => scope.ServiceProvider.GetRequiredService<ErpTestDb>().Customers.Count());
        Assert.Contains(service, ex.Message);
        Assert.Contains(alternative, ex.Message);
    }

    [Fact]
    public async Task A_users_own_command_interceptor_still_sees_routed_commands()
    {
        var seen = new SeenCommands();
        await using var sp = RoutedContext(o => o.AddInterceptors(seen));
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        using (RoutingScope.Begin(RouteKind.ReadReplica, "Report"))
        {
            var node = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
            Assert.StartsWith("sync", node); // routed by RoutingSdk, seen by the user's interceptor
        }

        Assert.Contains(seen.Texts, t => t.Contains("cluster_name", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EnsureDeleted_and_EnsureCreated_create_and_drop_the_database_on_the_primary_pool()
    {
        static string Scratch(string connectionString) =>
            new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Database = "routing_efscratch" }.ConnectionString;
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "WritePool", Role = PoolRole.Primary, ConnectionString = Scratch(_cluster.PrimaryConnectionString) });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = Scratch(_cluster.Sync1ConnectionString) });
        });
        // UseNpgsql names a host that is not the primary: the admin connection is built from the primary pool's.
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(Scratch(_cluster.Sync1ConnectionString)).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        await using (var scope = sp.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            db.Database.EnsureDeleted(); // synchronous: DROP DATABASE (when it exists) on the admin connection
            Assert.True(await db.Database.EnsureCreatedAsync()); // CREATE DATABASE on the admin connection, the tables through routing
            Assert.False(await db.Database.EnsureCreatedAsync()); // it exists now: nothing to do
            db.Customers.Add(new Customer { Name = "scratch" });
            await db.SaveChangesAsync();
        }

        await using (var check = new Npgsql.NpgsqlConnection(Scratch(_cluster.PrimaryConnectionString)))
        {
            await check.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT current_setting('cluster_name'), (SELECT count(*) FROM ef_routing.customers)", check);
            await using var reader = await cmd.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal("primary", reader.GetString(0));
            Assert.Equal(1L, reader.GetInt64(1));
        }

        await using (var scope = sp.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<ErpTestDb>().Database.EnsureDeletedAsync());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_users_own_connection_interceptor_sees_the_routed_connection_from_ConnectionOpening_on(bool async)
    {
        var seen = new SeenConnections();
        await using var sp = RoutedContext(o => o.AddInterceptors(seen));
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        using (RoutingScope.Begin(RouteKind.ReadReplica, "Report"))
        {
            _ = async ? await db.Customers.CountAsync() : db.Customers.Count();
        }

        _ = async
            ? await db.Customers.Where(c => c.Id == EfSchema.SeedCustomerId).ExecuteUpdateAsync(u => u.SetProperty(c => c.Name, c => c.Name))
            : db.Customers.Where(c => c.Id == EfSchema.SeedCustomerId).ExecuteUpdate(u => u.SetProperty(c => c.Name, c => c.Name));

        // The node is the server's answer on the connection the interceptor was handed in ConnectionOpening.
        Assert.Equal(2, seen.Opens.Count);
        Assert.All(seen.Opens, o => Assert.True(o.SameConnection, "ConnectionOpening and ConnectionOpened saw different connections"));
        Assert.StartsWith("sync", seen.Opens.First().Node);
        Assert.Equal("primary", seen.Opens.Last().Node);
        Assert.Equal(2, seen.Closes);
    }

    private sealed class SeenConnections : Microsoft.EntityFrameworkCore.Diagnostics.DbConnectionInterceptor
    {
        private System.Data.Common.DbConnection? _opening;

        public System.Collections.Concurrent.ConcurrentQueue<(bool SameConnection, string Node)> Opens { get; } = new();

        public int Closes { get; private set; }

        public override Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult ConnectionOpening(
            System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEventData eventData,
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult result)
        {
            _opening = connection;
            return result;
        }

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult> ConnectionOpeningAsync(
            System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEventData eventData,
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult result, CancellationToken cancellationToken = default)
        {
            _opening = connection;
            return ValueTask.FromResult(result);
        }

        public override void ConnectionOpened(System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData) =>
            Record(connection);

        public override Task ConnectionOpenedAsync(
            System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Record(connection);
            return Task.CompletedTask;
        }

        public override void ConnectionClosed(System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData) => Closes++;

        public override Task ConnectionClosedAsync(System.Data.Common.DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData)
        {
            Closes++;
            return Task.CompletedTask;
        }

        private void Record(System.Data.Common.DbConnection connection)
        {
            using var probe = connection.CreateCommand();
            probe.CommandText = "SELECT current_setting('cluster_name')";
            Opens.Enqueue((ReferenceEquals(_opening, connection), (string)probe.ExecuteScalar()!));
        }
    }

    private sealed class SeenCommands : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Texts { get; } = new();

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(
            System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result, CancellationToken cancellationToken = default)
        {
            Texts.Enqueue(command.CommandText);
            return ValueTask.FromResult(result);
        }
    }
}
