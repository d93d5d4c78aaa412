using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Tenants;

/// <summary>
/// Tenants over two real clusters: every statement on its tenant's cluster, proven on the servers (system_identifier,
/// pg_stat_statements of SQL that names the tenant), never by RoutingSdk's own bookkeeping.
/// </summary>
[Collection(SecondClusterCollection.Name)]
public sealed class TenantRoutingTests(ClusterFixture shared, SecondClusterFixture dedicated) : IAsyncLifetime
{
    private readonly TenantTopology _topology = new(shared.Cluster, dedicated.Cluster);
    private long _sharedId;
    private long _dedicatedId;


    public async Task InitializeAsync()
    {
        (_sharedId, _dedicatedId) = await _topology.PrepareAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Mixed_workload_of_three_tenants_over_two_clusters_never_crosses()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings());
        await using var services = TenantTopology.Services(configuration);
        var routed = services.GetRequiredService<RoutingDataSource>();
        var sharedBefore = await TenantTopology.TaggedCallsAsync(shared.Cluster, TenantTopology.SharedNodes);
        var dedicatedBefore = await TenantTopology.TaggedCallsAsync(dedicated.Cluster, TenantTopology.DedicatedNodes);

        var tenants = new[] { ("acme", _sharedId), ("globex", _sharedId), ("initech", _dedicatedId) };
        const int Rounds = 12;
        var seen = new ConcurrentBag<(string Tenant, ServerIdentity Server, string How)>();
        var written = new ConcurrentBag<(string Tenant, Guid Token)>();
        await Task.WhenAll(tenants.Select(t => Task.Run(async () =>
        {
            var (tenant, _) = t;
            using var tenantScope = TenantScope.Begin(tenant);
            for (var i = 0; i < Rounds; i++)
            {
                // A write through EF Core (the tenant's primary) ...
                await using (var scope = services.CreateAsyncScope())
                {
                    var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
                    var token = Guid.NewGuid();
                    db.Entries.Add(new TenantEntry { Tenant = tenant, Token = token });
                    await db.SaveChangesAsync();
                    written.Add((tenant, token));
                }

                // ... a report read through EF Core under [ReadReplica] (the tenant's replicas), naming the tenant ...
                using (RoutingScope.Begin(RouteKind.ReadReplica, "Tenants.Report", RoutingCategory.Report))
                {
                    await using var scope = services.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
                    // The tenant's name is part of the SQL (its own table), so pg_stat_statements can count it per node.
                    var sql = "SELECT p.system_identifier AS \"SystemIdentifier\", current_setting('cluster_name') AS \"Node\", pg_is_in_recovery() AS \"InRecovery\" "
                        + "FROM pg_control_system() p, tenancy.t_" + tenant + " t WHERE t.id = 1";
                    var server = await db.Database.SqlQueryRaw<ServerIdentity>(sql).SingleAsync();
                    seen.Add((tenant, server, "ef-replica"));
                }

                // ... and a Dapper-style read through RoutingDataSource with the default route (the tenant's primary).
                var viaAdo = await routed.ReadAsync(async (conn, ct) =>
                {
                    await using var cmd = new NpgsqlCommand(
                        $"SELECT p.system_identifier, current_setting('cluster_name'), pg_is_in_recovery() FROM pg_control_system() p, tenancy.t_{tenant} t WHERE t.id = 1", conn);
                    await using var reader = await cmd.ExecuteReaderAsync(ct);
                    await reader.ReadAsync(ct);
                    return new ServerIdentity(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2));
                });
                seen.Add((tenant, viaAdo, "ado-default"));
            }
        })));

        // Every statement ran on its tenant's cluster, by the servers' own identifiers.
        foreach (var (tenant, server, how) in seen)
        {
            var expected = tenants.Single(t => t.Item1 == tenant).Item2;
            Assert.True(expected == server.SystemIdentifier, $"{how} of {tenant} ran on {server.Node} of cluster {server.SystemIdentifier}, not on {expected}");
        }

        // Within each cluster the routes held: replica reads on replicas, default ADO.NET reads on the primary.
        Assert.All(seen.Where(s => s.How == "ef-replica"), s => Assert.True(s.Server.InRecovery, $"{s.Tenant}'s report ran on {s.Server.Node}"));
        Assert.All(seen.Where(s => s.How == "ado-default"), s => Assert.False(s.Server.InRecovery, $"{s.Tenant}'s ADO.NET read ran on {s.Server.Node}"));
        Assert.Contains(seen, s => s.Tenant == "initech" && s.How == "ef-replica" && s.Server.Node == "sync1");

        // Writes: each cluster's primary holds exactly its own tenants' acknowledged rows of this run.
        var sharedRows = (await TenantTopology.EntriesAsync(shared.Cluster)).Select(r => r.Token).ToHashSet();
        var dedicatedRows = (await TenantTopology.EntriesAsync(dedicated.Cluster)).Select(r => r.Token).ToHashSet();
        foreach (var (tenant, token) in written)
        {
            var onShared = sharedRows.Contains(token);
            var onDedicated = dedicatedRows.Contains(token);
            Assert.True(tenant == "initech" ? onDedicated && !onShared : onShared && !onDedicated, $"{tenant}'s row {token}: shared {onShared}, dedicated {onDedicated}");
        }

        // pg_stat_statements of every node: SQL naming a tenant ran only on that tenant's cluster, as often as it was sent.
        var sharedCalls = Delta(sharedBefore, await TenantTopology.TaggedCallsAsync(shared.Cluster, TenantTopology.SharedNodes));
        var dedicatedCalls = Delta(dedicatedBefore, await TenantTopology.TaggedCallsAsync(dedicated.Cluster, TenantTopology.DedicatedNodes));
        Assert.Equal(0, dedicatedCalls["acme"]);
        Assert.Equal(0, dedicatedCalls["globex"]);
        Assert.Equal(0, sharedCalls["initech"]);
        Assert.Equal(2 * Rounds, sharedCalls["acme"]);
        Assert.Equal(2 * Rounds, sharedCalls["globex"]);
        Assert.Equal(2 * Rounds, dedicatedCalls["initech"]);
    }

    [Fact]
    public async Task Without_a_tenant_or_with_an_unmapped_one_and_no_default_cluster_nothing_is_sent()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings());
        await using var services = TenantTopology.Services(configuration);
        var sharedBefore = await TenantTopology.TaggedCallsAsync(shared.Cluster, TenantTopology.SharedNodes);
        var dedicatedBefore = await TenantTopology.TaggedCallsAsync(dedicated.Cluster, TenantTopology.DedicatedNodes);

        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
            var none = await Assert.ThrowsAsync<TenantNotResolvedException>(() => db.Database.SqlQueryRaw<int>("SELECT id AS \"Value\" FROM tenancy.t_nobody").ToListAsync());
            Assert.Null(none.Tenant);
            Assert.Contains("TenantScope.Begin", none.Message);
            Assert.Contains("DefaultCluster", none.Message);
        }

        using (TenantScope.Begin("nobody"))
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
            var unmapped = await Assert.ThrowsAsync<TenantNotResolvedException>(() => db.Database.SqlQueryRaw<int>("SELECT id AS \"Value\" FROM tenancy.t_nobody").ToListAsync());
            Assert.Equal("nobody", unmapped.Tenant);
            Assert.Contains("Routing:Tenants:Map", unmapped.Message);

            var routed = services.GetRequiredService<RoutingDataSource>();
            await Assert.ThrowsAsync<TenantNotResolvedException>(async () => await routed.OpenConnectionAsync());
        }

        Assert.Equal(0, Delta(sharedBefore, await TenantTopology.TaggedCallsAsync(shared.Cluster, TenantTopology.SharedNodes))["nobody"]);
        Assert.Equal(0, Delta(dedicatedBefore, await TenantTopology.TaggedCallsAsync(dedicated.Cluster, TenantTopology.DedicatedNodes))["nobody"]);
    }

    [Fact]
    public async Task A_tenant_added_by_a_configuration_reload_is_served_without_a_restart()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings());
        await using var services = TenantTopology.Services(configuration);
        using var tenant = TenantScope.Begin("umbrella");
        await using (var scope = services.CreateAsyncScope())
        {
            await Assert.ThrowsAsync<TenantNotResolvedException>(() => Identity(scope.ServiceProvider.GetRequiredService<TenantDb>()));
        }

        TenantTopology.Edit(configuration, "Routing:Tenants:Map:umbrella", TenantTopology.Dedicated);
        await using (var scope = services.CreateAsyncScope())
        {
            Assert.Equal(_dedicatedId, (await Identity(scope.ServiceProvider.GetRequiredService<TenantDb>())).SystemIdentifier);
        }

        // A map that names no configured cluster is rejected; the last valid map stays in force.
        TenantTopology.Edit(configuration, "Routing:Tenants:Map:umbrella", "nowhere");
        await using (var scope = services.CreateAsyncScope())
        {
            Assert.Equal(_dedicatedId, (await Identity(scope.ServiceProvider.GetRequiredService<TenantDb>())).SystemIdentifier);
        }

        Assert.Equal(TenantTopology.Dedicated, services.GetRequiredService<RoutingTenants>().ClusterOf("umbrella"));
    }

    [Fact]
    public async Task A_tenant_limited_to_one_connection_runs_an_ef_core_transaction_and_its_queries()
    {
        // Every command on the open connection checks its cluster: that check must not ask for a second slot.
        var configuration = TenantTopology.Configuration(_topology.Settings(new Dictionary<string, string?>
        {
            ["Routing:Tenants:MaxConnectionsPerTenant"] = "1",
            ["Routing:Tenants:LimitWaitTimeout"] = "00:00:02",
        }));
        await using var services = TenantTopology.Services(configuration);
        using var tenant = TenantScope.Begin("initech");
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
        var token = Guid.NewGuid();
        await using (var tx = await db.Database.BeginTransactionAsync())
        {
            db.Entries.Add(new TenantEntry { Tenant = "initech", Token = token });
            await db.SaveChangesAsync();
            Assert.Equal(1, await db.Entries.CountAsync(e => e.Token == token));
            var server = await Identity(db);
            Assert.Equal(_dedicatedId, server.SystemIdentifier);
            Assert.False(server.InRecovery);
            await tx.CommitAsync();
        }

        Assert.Equal(_dedicatedId, (await Identity(db)).SystemIdentifier);
        var load = services.GetRequiredService<RoutingTenants>().GetLoad().Single(l => l.Tenant == "initech" && l.Cluster == TenantTopology.Dedicated);
        Assert.Equal(0, load.OpenConnections);
        Assert.Equal(0, load.Rejected);
        Assert.Contains(await TenantTopology.EntriesAsync(dedicated.Cluster, "initech"), e => e.Token == token);
    }

    [Fact]
    public async Task A_connection_made_by_CreateConnection_is_refused_for_writing_at_its_open_while_its_tenant_is_frozen()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings());
        await using var services = TenantTopology.Services(configuration);
        var routed = services.GetRequiredService<RoutingDataSource>();
        var tenants = services.GetRequiredService<RoutingTenants>();
        using var tenant = TenantScope.Begin("initech");
        await using var writer = routed.CreateConnection(); // the default route: it may write
        await using var reader = ReportConnection(routed);
        using (await tenants.FreezeWritesAsync("initech", TimeSpan.FromSeconds(10)))
        {
            var frozen = await Assert.ThrowsAsync<TenantFrozenException>(() => writer.OpenAsync());
            Assert.Contains("OpenConnectionAsync", frozen.Message);
            await writer.CloseAsync();

            await reader.OpenAsync(); // reads continue, on the tenant's cluster
            await using var cmd = new NpgsqlCommand("SELECT system_identifier FROM pg_control_system()", reader);
            Assert.Equal(_dedicatedId, (long)(await cmd.ExecuteScalarAsync())!);
            Assert.Equal(0, tenants.GetLoad().Single(l => l.Tenant == "initech" && l.Cluster == TenantTopology.Dedicated).OpenWriteConnections);
        }

        await writer.OpenAsync(); // thawed: the same connection opens for writing
        await using (var cmd = new NpgsqlCommand("SELECT system_identifier FROM pg_control_system()", writer))
        {
            Assert.Equal(_dedicatedId, (long)(await cmd.ExecuteScalarAsync())!);
        }

        Assert.Equal(1, tenants.GetLoad().Single(l => l.Tenant == "initech" && l.Cluster == TenantTopology.Dedicated).OpenWriteConnections);
        await writer.CloseAsync();
        await reader.CloseAsync();
        Assert.Equal(0, tenants.GetLoad().Single(l => l.Tenant == "initech" && l.Cluster == TenantTopology.Dedicated).OpenConnections);

        static NpgsqlConnection ReportConnection(RoutingDataSource routed)
        {
            using var report = RoutingScope.Begin(RouteKind.ReadReplica, "Tenants.Report", RoutingCategory.Report);
            return routed.CreateConnection();
        }
    }

    [Fact]
    public async Task A_pooled_context_reused_for_another_tenant_never_keeps_the_previous_tenants_connection()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings());
        await using var services = TenantTopology.Services(configuration, pooled: true);
        Guid firstInstance;
        using (TenantScope.Begin("acme"))
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
            firstInstance = db.ContextId.InstanceId;

            // Opened by hand and left open when the context goes back to the pool.
            await db.Database.OpenConnectionAsync();
            Assert.Equal(_sharedId, (await Identity(db)).SystemIdentifier);
        }

        using (TenantScope.Begin("initech"))
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
            Assert.Equal(firstInstance, db.ContextId.InstanceId); // the same pooled instance
            var server = await Identity(db);
            Assert.Equal(_dedicatedId, server.SystemIdentifier);
        }
    }

    [Fact]
    public async Task A_transaction_or_an_open_connection_that_would_span_two_clusters_is_refused()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings());
        await using var services = TenantTopology.Services(configuration);
        var token = Guid.NewGuid();
        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
            using (TenantScope.Begin("acme"))
            {
                await using var transaction = await db.Database.BeginTransactionAsync();
                db.Entries.Add(new TenantEntry { Tenant = "acme", Token = Guid.NewGuid() });
                await db.SaveChangesAsync();
                using (TenantScope.Begin("initech"))
                {
                    db.Entries.Add(new TenantEntry { Tenant = "initech", Token = token });
                    var refused = await Assert.ThrowsAsync<CrossClusterOperationException>(() => db.SaveChangesAsync());
                    Assert.Equal(TenantTopology.Shared, refused.BoundCluster);
                    Assert.Equal(TenantTopology.Dedicated, refused.RequestedCluster);
                }

                await transaction.RollbackAsync();
            }
        }

        Assert.DoesNotContain(await TenantTopology.EntriesAsync(dedicated.Cluster), r => r.Token == token);
        Assert.DoesNotContain(await TenantTopology.EntriesAsync(shared.Cluster), r => r.Token == token);

        // A TransactionScope enlisting a connection of one cluster refuses a connection of the other.
        var routed = services.GetRequiredService<RoutingDataSource>();
        using (var ambient = new System.Transactions.TransactionScope(System.Transactions.TransactionScopeAsyncFlowOption.Enabled))
        {
            using (TenantScope.Begin("globex"))
            {
                await using var first = await routed.OpenConnectionAsync();
            }

            using (TenantScope.Begin("initech"))
            {
                var refused = await Assert.ThrowsAsync<CrossClusterOperationException>(async () => await routed.OpenConnectionAsync());
                Assert.Contains("TransactionScope", refused.Message);
            }
        }

        // One operation (a RoutingScope) serves one tenant: a tenant changed inside it is refused.
        using (TenantScope.Begin("acme"))
        using (RoutingScope.Begin(RouteKind.ReadReplica, "Tenants.Mixed"))
        {
            await using (var scope = services.CreateAsyncScope())
            {
                Assert.Equal(_sharedId, (await Identity(scope.ServiceProvider.GetRequiredService<TenantDb>())).SystemIdentifier);
            }

            using (TenantScope.Begin("initech"))
            {
                await using var scope = services.CreateAsyncScope();
                await Assert.ThrowsAsync<CrossClusterOperationException>(() => Identity(scope.ServiceProvider.GetRequiredService<TenantDb>()));
            }
        }
    }

    [Fact]
    public async Task A_noisy_tenant_over_its_connection_limit_is_refused_while_its_neighbour_on_the_same_cluster_is_served()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings(new Dictionary<string, string?>
        {
            ["Routing:Tenants:MaxConnectionsPerTenant"] = "2",
            ["Routing:Tenants:LimitWaitTimeout"] = "00:00:00.300",
        }));
        await using var services = TenantTopology.Services(configuration);
        var routed = services.GetRequiredService<RoutingDataSource>();
        var held = new List<NpgsqlConnection>();
        try
        {
            using (TenantScope.Begin("acme"))
            {
                held.Add(await routed.OpenConnectionAsync());
                held.Add(await routed.OpenConnectionAsync());
                var refused = await Assert.ThrowsAsync<TenantLimitExceededException>(async () => await routed.OpenConnectionAsync());
                Assert.Equal("acme", refused.Tenant);
                Assert.Equal(TenantTopology.Shared, refused.Cluster);
                Assert.Contains("MaxConnectionsPerTenant", refused.Message);
            }

            using (TenantScope.Begin("globex"))
            {
                await using var neighbour = await routed.OpenConnectionAsync();
                await using var cmd = new NpgsqlCommand("SELECT system_identifier FROM pg_control_system()", neighbour);
                Assert.Equal(_sharedId, (long)(await cmd.ExecuteScalarAsync())!);
            }

            // A connection returned frees a slot.
            await held[0].DisposeAsync();
            held.RemoveAt(0);
            using (TenantScope.Begin("acme"))
            {
                held.Add(await routed.OpenConnectionAsync());
            }

            var load = services.GetRequiredService<RoutingTenants>().GetLoad();
            var acme = Assert.Single(load, l => l.Tenant == "acme");
            Assert.Equal(2, acme.OpenConnections);
            Assert.Equal(1, acme.Rejected);
        }
        finally
        {
            foreach (var connection in held)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private static Task<ServerIdentity> Identity(TenantDb db) => db.Database.SqlQueryRaw<ServerIdentity>(TenantTopology.IdentitySql).SingleAsync();

    private static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after.ToDictionary(e => e.Key, e => e.Value - before.GetValueOrDefault(e.Key));
}
