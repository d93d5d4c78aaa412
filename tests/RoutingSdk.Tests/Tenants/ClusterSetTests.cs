using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RoutingSdk.Routing;
using RoutingSdk.Tenants;

namespace RoutingSdk.Tests.Tenants;

/// <summary>Which cluster a statement belongs to: the map, the default, the refusals, reloads and freezes (no servers needed).</summary>
public sealed class ClusterSetTests
{
    private static Dictionary<string, string?> Settings(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (cluster, host) in new[] { ("shared", "a"), ("dedicated", "b") })
        {
            settings[$"Routing:Clusters:{cluster}:Pools:0:Name"] = "primary";
            settings[$"Routing:Clusters:{cluster}:Pools:0:Role"] = "Primary";
            settings[$"Routing:Clusters:{cluster}:Pools:0:ConnectionString"] = $"Host={host}-primary;Database=erp";
            settings[$"Routing:Clusters:{cluster}:Pools:1:Name"] = "sync1";
            settings[$"Routing:Clusters:{cluster}:Pools:1:ConnectionString"] = $"Host={host}-sync1;Database=erp";
            settings[$"Routing:Clusters:{cluster}:Health:Enabled"] = "false";
        }

        settings["Routing:Tenants:Map:acme"] = "shared";
        settings["Routing:Tenants:Map:initech"] = "dedicated";
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    private static (ServiceProvider Provider, IConfigurationRoot Configuration) Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var provider = new ServiceCollection().AddQueryRouting(configuration.GetSection("Routing")).Services.BuildServiceProvider();
        return (provider, configuration);
    }

    private static string PrimaryHost(ClusterSet set, RoutingScope? scope = null, bool write = true) =>
        new Npgsql.NpgsqlConnectionStringBuilder(set.ClusterFor(scope).Router.Decide(RouteRequest.Write, scope).Pool.ConnectionString).Host!;

    [Fact]
    public void Each_tenant_resolves_to_its_own_cluster_with_its_own_router()
    {
        var (provider, _) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        Assert.True(set.IsMulti);
        using (TenantScope.Begin("acme"))
        {
            Assert.Equal("a-primary", PrimaryHost(set));
        }

        using (TenantScope.Begin("INITECH")) // tenant identifiers compare case-insensitively, as configuration keys do
        {
            Assert.Equal("b-primary", PrimaryHost(set));
        }

        Assert.Equal(["dedicated", "shared"], provider.GetRequiredService<RoutingTenants>().Clusters);
        Assert.Equal(2, provider.GetRequiredService<RoutingPools>().GetStatus().Count(s => s.Name == "primary"));
    }

    [Fact]
    public void No_tenant_and_no_default_cluster_is_refused_naming_the_fix()
    {
        var (provider, _) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var none = Assert.Throws<TenantNotResolvedException>(() => set.Resolve(null, mayWrite: false));
        Assert.Null(none.Tenant);
        Assert.Contains("TenantScope.Begin(tenant)", none.Message);
        using (TenantScope.Begin("umbrella"))
        {
            var unmapped = Assert.Throws<TenantNotResolvedException>(() => set.Resolve(null, mayWrite: false));
            Assert.Equal("umbrella", unmapped.Tenant);
            Assert.Contains("\"umbrella\": \"<cluster>\"", unmapped.Message);
        }
    }

    [Fact]
    public void The_default_cluster_serves_unmapped_tenants_and_work_without_a_tenant()
    {
        var (provider, _) = Build(Settings(new() { ["Routing:Tenants:DefaultCluster"] = "dedicated" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        Assert.Equal("b-primary", PrimaryHost(set));
        using (TenantScope.Begin("umbrella"))
        {
            Assert.Equal("b-primary", PrimaryHost(set));
        }

        Assert.Same(set.ClusterFor(null), set.Fallback);
    }

    [Fact]
    public void A_reload_adds_a_tenant_and_a_cluster_and_a_bad_map_is_rejected_keeping_the_last_good_one()
    {
        var (provider, configuration) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        configuration["Routing:Clusters:third:Pools:0:Name"] = "primary";
        configuration["Routing:Clusters:third:Pools:0:Role"] = "Primary";
        configuration["Routing:Clusters:third:Pools:0:ConnectionString"] = "Host=c-primary;Database=erp";
        configuration["Routing:Clusters:third:Health:Enabled"] = "false";
        configuration["Routing:Tenants:Map:umbrella"] = "third";
        configuration.Reload();
        using (TenantScope.Begin("umbrella"))
        {
            Assert.Equal("c-primary", PrimaryHost(set));
        }

        configuration["Routing:Tenants:Map:umbrella"] = "nowhere";
        configuration.Reload();
        using (TenantScope.Begin("umbrella"))
        {
            Assert.Equal("c-primary", PrimaryHost(set));
        }
    }

    [Fact]
    public void One_operation_serves_one_tenant_and_a_moved_tenants_running_operation_reads_where_it_began_and_cannot_write()
    {
        var (provider, configuration) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        using (TenantScope.Begin("acme"))
        using (var operation = RoutingScope.Begin(RouteKind.ReadReplica, "Report"))
        {
            Assert.Equal("shared", set.Resolve(operation, mayWrite: false).Cluster.Name);
            using (TenantScope.Begin("initech"))
            {
                var crossed = Assert.Throws<CrossClusterOperationException>(() => set.Resolve(operation, mayWrite: false));
                Assert.Equal("shared", crossed.BoundCluster);
                Assert.Equal("dedicated", crossed.RequestedCluster);
            }

            configuration["Routing:Tenants:Map:acme"] = "dedicated";
            configuration.Reload();
            Assert.Equal("shared", set.Resolve(operation, mayWrite: false).Cluster.Name); // finishes its reads where it began
            var write = Assert.Throws<CrossClusterOperationException>(() => set.Resolve(operation, mayWrite: true));
            Assert.Contains("was moved", write.Message);
            Assert.Equal("dedicated", set.Resolve(null, mayWrite: true).Cluster.Name); // a new operation goes to the new cluster
        }
    }

    [Fact]
    public void A_causal_token_orders_reads_of_its_own_cluster_only()
    {
        var (provider, _) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var fromShared = CausalToken.Parse("lsn:0/3000000@1~shared");
        using (TenantScope.Begin("acme"))
        using (var print = RoutingScope.Begin(RouteKind.AsyncReplica, "Invoice.Print"))
        {
            print.WaitFor(fromShared);
            Assert.Equal("shared", set.Resolve(print, mayWrite: false).Cluster.Name);
        }

        using (TenantScope.Begin("initech"))
        using (var print = RoutingScope.Begin(RouteKind.AsyncReplica, "Invoice.Print"))
        {
            print.WaitFor(fromShared); // handed to another tenant's operation by mistake
            var crossed = Assert.Throws<CrossClusterOperationException>(() => set.Resolve(print, mayWrite: false));
            Assert.Equal("shared", crossed.BoundCluster);
            Assert.Equal("dedicated", crossed.RequestedCluster);
            Assert.Contains("causal token", crossed.Message);
            Assert.Throws<CrossClusterOperationException>(() => print.WaitFor(CausalToken.Parse("lsn:0/1@1~dedicated"))); // two clusters' tokens
        }
    }

    [Fact]
    public async Task A_dependent_clone_of_a_transaction_on_another_thread_cannot_reach_another_cluster()
    {
        var (provider, _) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        using var root = new System.Transactions.TransactionScope(System.Transactions.TransactionScopeAsyncFlowOption.Enabled);
        using (TenantScope.Begin("acme"))
        {
            Assert.Equal("shared", set.Resolve(null, mayWrite: true).Cluster.Name);
        }

        var clone = System.Transactions.Transaction.Current!.DependentClone(System.Transactions.DependentCloneOption.BlockCommitUntilComplete);
        var crossed = await Task.Run(() =>
        {
            using var scope = new System.Transactions.TransactionScope(clone);
            using var tenant = TenantScope.Begin("initech");
            try
            {
                return Assert.Throws<CrossClusterOperationException>(() => set.Resolve(null, mayWrite: true));
            }
            finally
            {
                scope.Complete();
                clone.Complete();
            }
        });
        Assert.Equal("shared", crossed.BoundCluster);
    }

    [Fact]
    public async Task A_frozen_tenants_write_waits_for_the_thaw_and_goes_to_the_cluster_in_force_then_while_reads_pass()
    {
        var (provider, configuration) = Build(Settings(new() { ["Routing:Tenants:FreezeWaitTimeout"] = "00:00:30" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var tenants = provider.GetRequiredService<RoutingTenants>();
        using var tenant = TenantScope.Begin("acme");
        var freeze = await tenants.FreezeWritesAsync("acme", TimeSpan.FromSeconds(5));
        Assert.Equal("shared", set.Resolve(null, mayWrite: false).Cluster.Name); // reads continue
        var write = set.ResolveAsync(null, mayWrite: true, async: true, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(write.IsCompleted);
        configuration["Routing:Tenants:Map:acme"] = "dedicated";
        configuration.Reload();
        Assert.False(write.IsCompleted); // a map change alone does not release a frozen write
        freeze.Dispose();
        Assert.Equal("dedicated", (await write.WaitAsync(TimeSpan.FromSeconds(10))).Cluster.Name);
    }

    [Fact]
    public async Task A_freeze_that_outlasts_the_wait_fails_the_write_with_nothing_sent()
    {
        var (provider, _) = Build(Settings(new() { ["Routing:Tenants:FreezeWaitTimeout"] = "00:00:00.100", ["Routing:Tenants:FrozenTenants:0"] = "acme" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        using var tenant = TenantScope.Begin("acme");
        var frozen = await Assert.ThrowsAsync<TenantFrozenException>(() => set.ResolveAsync(null, mayWrite: true, async: true, CancellationToken.None).AsTask());
        Assert.Equal("acme", frozen.Tenant);
        Assert.Contains("FreezeWaitTimeout", frozen.Message);
        Assert.Throws<TenantFrozenException>(() => set.Resolve(null, mayWrite: true));
        Assert.Equal("shared", set.Resolve(null, mayWrite: false).Cluster.Name);
    }

    [Fact]
    public async Task Freezing_waits_for_the_tenants_running_writes_to_finish()
    {
        var (provider, _) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var tenants = provider.GetRequiredService<RoutingTenants>();
        TenantLease? running;
        using (TenantScope.Begin("acme"))
        {
            running = (await set.ResolveAsync(null, mayWrite: true, async: true, CancellationToken.None)).Lease;
        }

        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => tenants.FreezeWritesAsync("acme", TimeSpan.FromMilliseconds(100)));
        Assert.Contains("1 connection(s) that may write", timedOut.Message);
        using (TenantScope.Begin("acme"))
        {
            var write = set.Resolve(null, mayWrite: true); // the failed freeze was lifted
            Assert.Equal("shared", write.Cluster.Name);
            write.Lease!.Release();
        }

        var freezing = tenants.FreezeWritesAsync("acme", TimeSpan.FromSeconds(10));
        await Task.Delay(50);
        Assert.False(freezing.IsCompleted);
        running!.Release();
        (await freezing).Dispose();
    }

    [Fact]
    public async Task The_connection_limit_holds_per_tenant_and_hands_a_returned_slot_to_the_next_waiter()
    {
        var (provider, _) = Build(Settings(new() { ["Routing:Tenants:MaxConnectionsPerTenant"] = "1", ["Routing:Tenants:LimitWaitTimeout"] = "00:00:10", ["Routing:Tenants:Map:globex"] = "shared" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var shared = set.Clusters.Single(c => c.Name == "shared");
        using var tenant = TenantScope.Begin("acme");
        var first = (await set.ResolveAsync(null, false, true, CancellationToken.None)).Lease;
        var second = set.ResolveAsync(null, false, true, CancellationToken.None).AsTask();
        using (TenantScope.Begin("globex"))
        {
            var neighbour = (await set.ResolveAsync(null, false, true, CancellationToken.None)).Lease; // another tenant is not held up
            neighbour!.Release();
        }

        Assert.False(second.IsCompleted);
        first!.Release();
        first.Release(); // once only
        var handed = (await second.WaitAsync(TimeSpan.FromSeconds(10))).Lease;
        Assert.Equal(1, set.SlotsOf(shared, "acme").Open);
        handed!.Release();
        Assert.Equal(0, set.SlotsOf(shared, "acme").Open);
    }

    [Fact]
    public async Task A_tenant_at_its_limit_still_gets_its_open_connections_cluster_without_waiting_for_a_slot()
    {
        // EF Core checks the cluster before every command on a connection that holds the tenant's only slot.
        var (provider, _) = Build(Settings(new() { ["Routing:Tenants:MaxConnectionsPerTenant"] = "1", ["Routing:Tenants:LimitWaitTimeout"] = "00:00:30" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var shared = set.Clusters.Single(c => c.Name == "shared");
        using var tenant = TenantScope.Begin("acme");
        var open = (await set.ResolveAsync(null, mayWrite: true, async: true, CancellationToken.None)).Lease;
        var lookups = Task.Run(() => (set.ClusterFor(null), set.ClusterOfOpenConnection(null, mayWrite: false), set.ClusterOfOpenConnection(null, mayWrite: true)));
        var (read, write, onOpen) = await lookups.WaitAsync(TimeSpan.FromSeconds(10)); // would wait the 30 s out if a lookup took a slot
        Assert.All(new[] { read, write, onOpen }, c => Assert.Same(shared, c));
        Assert.Equal(1, set.SlotsOf(shared, "acme").Open);
        Assert.Equal(1, set.SlotsOf(shared, "acme").Connections);
        open!.Release();
    }

    [Fact]
    public async Task A_write_that_waited_for_a_slot_while_its_tenant_moved_goes_to_the_new_cluster()
    {
        var (provider, configuration) = Build(Settings(new() { ["Routing:Tenants:MaxConnectionsPerTenant"] = "1", ["Routing:Tenants:LimitWaitTimeout"] = "00:00:30" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        using var tenant = TenantScope.Begin("acme");
        var held = (await set.ResolveAsync(null, mayWrite: false, async: true, CancellationToken.None)).Lease; // a long read on shared
        var write = set.ResolveAsync(null, mayWrite: true, async: true, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(write.IsCompleted);

        // The whole move happens while the write waits for a slot (its wait is not a running write, so a drain misses it).
        configuration["Routing:Tenants:Map:acme"] = "dedicated";
        configuration.Reload();
        held!.Release();
        var resolved = await write.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("dedicated", resolved.Cluster.Name);
        Assert.Equal(0, set.SlotsOf(set.Clusters.Single(c => c.Name == "shared"), "acme").Open); // the slot it got on shared went back
        resolved.Lease!.Release();
    }

    [Fact]
    public async Task A_connection_the_caller_opens_is_counted_past_the_limit_and_refused_for_writing_when_frozen_or_moved()
    {
        var (provider, configuration) = Build(Settings(new() { ["Routing:Tenants:MaxConnectionsPerTenant"] = "1" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var tenants = provider.GetRequiredService<RoutingTenants>();
        var shared = set.Clusters.Single(c => c.Name == "shared");
        using var tenant = TenantScope.Begin("acme");
        var first = set.CountOpened(shared, mayWrite: true);
        var second = set.CountOpened(shared, mayWrite: false); // an open cannot wait: counted past the limit
        Assert.Equal(2, set.SlotsOf(shared, "acme").Open);
        first!.Release();
        second!.Release();

        using (await tenants.FreezeWritesAsync("acme", TimeSpan.FromSeconds(5)))
        {
            var frozen = Assert.Throws<TenantFrozenException>(() => set.CountOpened(shared, mayWrite: true));
            Assert.Contains("OpenConnectionAsync", frozen.Message);
            set.CountOpened(shared, mayWrite: false)!.Release(); // reads continue
            Assert.Equal(0, set.SlotsOf(shared, "acme").OpenMayWrite);
        }

        configuration["Routing:Tenants:Map:acme"] = "dedicated";
        configuration.Reload();
        var moved = Assert.Throws<CrossClusterOperationException>(() => set.CountOpened(shared, mayWrite: true));
        Assert.Equal("dedicated", moved.RequestedCluster);
        Assert.Equal(0, set.SlotsOf(shared, "acme").Open);
    }

    [Fact]
    public async Task A_retired_tenant_entry_hands_out_no_slot_and_an_entry_in_use_is_never_retired()
    {
        var (provider, _) = Build(Settings(new() { ["Routing:Tenants:DefaultCluster"] = "shared" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var shared = set.Clusters.Single(c => c.Name == "shared");
        var busy = set.SlotsOf(shared, "walk-in-1");
        var lease = await busy.AcquireAsync(0, TimeSpan.Zero, false, true, CancellationToken.None);
        Assert.False(busy.TryRetire());
        lease!.Release();
        Assert.True(busy.TryRetire());
        Assert.Null(await busy.AcquireAsync(0, TimeSpan.Zero, false, true, CancellationToken.None));
        Assert.Null(busy.Count(mayWrite: false));
    }

    [Fact]
    public async Task A_write_that_waited_out_a_freeze_as_its_operations_first_statement_goes_to_the_tenants_new_cluster()
    {
        var (provider, configuration) = Build(Settings(new() { ["Routing:Tenants:FreezeWaitTimeout"] = "00:00:30" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var tenants = provider.GetRequiredService<RoutingTenants>();
        using var tenant = TenantScope.Begin("acme");
        var freeze = await tenants.FreezeWritesAsync("acme", TimeSpan.FromSeconds(5));
        var scope = RoutingScope.Begin(RouteKind.MasterOnly, "Orders.Post");
        var write = set.ResolveAsync(scope, mayWrite: true, async: true, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(write.IsCompleted);
        configuration["Routing:Tenants:Map:acme"] = "dedicated";
        configuration.Reload();
        freeze.Dispose();
        var resolved = await write.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("dedicated", resolved.Cluster.Name); // not bound to shared while it waited
        Assert.Equal("dedicated", ((RoutingCluster)scope.Operation.BoundCluster!.Cluster).Name);
        resolved.Lease!.Release();
        scope.Dispose();
    }

    [Fact]
    public async Task A_write_on_a_connection_opened_before_its_tenant_moved_is_refused_and_does_not_wait_for_a_freeze()
    {
        var (provider, configuration) = Build(Settings(new() { ["Routing:Tenants:FreezeWaitTimeout"] = "00:00:30" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var tenants = provider.GetRequiredService<RoutingTenants>();
        using var tenant = TenantScope.Begin("acme");
        using var scope = RoutingScope.Begin(RouteKind.MasterOnly, "Orders.Post");
        var opened = set.Resolve(scope, mayWrite: true); // the connection opens on shared
        var draining = tenants.FreezeWritesAsync("acme", TimeSpan.FromSeconds(10));

        // The running write's next statement is not held by the freeze its own connection holds up.
        Assert.Equal("shared", (await Task.Run(() => set.ClusterOfOpenConnection(scope, mayWrite: true)).WaitAsync(TimeSpan.FromSeconds(10))).Name);
        opened.Lease!.Release();
        using var freeze = await draining;

        configuration["Routing:Tenants:Map:acme"] = "dedicated";
        configuration.Reload();
        var moved = Assert.Throws<CrossClusterOperationException>(() => set.ClusterOfOpenConnection(scope, mayWrite: true));
        Assert.Equal("shared", moved.BoundCluster);
        Assert.Equal("dedicated", moved.RequestedCluster);
        Assert.Same(set.Clusters.Single(c => c.Name == "shared"), set.ClusterOfOpenConnection(scope, mayWrite: false)); // its reads finish where it began
    }

    [Fact]
    public async Task Tenants_outside_the_map_are_forgotten_when_idle_past_a_bound_while_mapped_ones_are_kept()
    {
        var (provider, _) = Build(Settings(new() { ["Routing:Tenants:DefaultCluster"] = "shared" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var shared = set.Clusters.Single(c => c.Name == "shared");
        using (TenantScope.Begin("acme"))
        {
            (await set.ResolveAsync(null, false, true, CancellationToken.None)).Lease!.Release();
        }

        TenantLease? busy;
        using (TenantScope.Begin("header-value-busy"))
        {
            busy = (await set.ResolveAsync(null, false, true, CancellationToken.None)).Lease;
        }

        for (var i = 0; i < RoutingCluster.MaxTrackedTenants + 200; i++)
        {
            using (TenantScope.Begin($"header-value-{i}"))
            {
                (await set.ResolveAsync(null, false, true, CancellationToken.None)).Lease!.Release();
            }
        }

        var tracked = shared.Tenants.Select(t => t.Tenant).ToList();
        Assert.True(tracked.Count <= RoutingCluster.MaxTrackedTenants + 1, $"{tracked.Count} tenants tracked");
        Assert.Contains("acme", tracked); // in the map: its counters stay
        Assert.Contains("header-value-busy", tracked); // not idle
        busy!.Release();
    }

    [Fact]
    public async Task A_limit_wait_that_expires_or_is_cancelled_gives_nothing_away()
    {
        var (provider, _) = Build(Settings(new() { ["Routing:Tenants:MaxConnectionsPerTenant"] = "1", ["Routing:Tenants:LimitWaitTimeout"] = "00:00:00.100" }));
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var shared = set.Clusters.Single(c => c.Name == "shared");
        using var tenant = TenantScope.Begin("acme");
        var first = (await set.ResolveAsync(null, false, true, CancellationToken.None)).Lease;
        var refused = await Assert.ThrowsAsync<TenantLimitExceededException>(() => set.ResolveAsync(null, false, true, CancellationToken.None).AsTask());
        Assert.Equal("shared", refused.Cluster);
        Assert.Throws<TenantLimitExceededException>(() => set.ResolveAsync(null, false, false, CancellationToken.None).GetAwaiter().GetResult());
        using var cancel = new CancellationTokenSource();
        var cancelled = set.ResolveAsync(null, false, true, cancel.Token).AsTask();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        first!.Release();
        Assert.Equal(0, set.SlotsOf(shared, "acme").Open);
        Assert.Equal(2, set.SlotsOf(shared, "acme").Rejected);
    }

    [Fact]
    public void A_single_cluster_configuration_needs_no_tenant_and_ignores_one()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Routing:Pools:0:Name"] = "primary", ["Routing:Pools:0:Role"] = "Primary", ["Routing:Pools:0:ConnectionString"] = "Host=only;Database=erp",
            ["Routing:Health:Enabled"] = "false",
        };
        var (provider, _) = Build(settings);
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        Assert.False(set.IsMulti);
        Assert.Same(provider.GetRequiredService<QueryRouter>(), set.ClusterFor(null).Router);
        using (TenantScope.Begin("anyone"))
        {
            Assert.Same(provider.GetRequiredService<QueryRouter>(), set.ClusterFor(null).Router);
        }

        Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<RoutingTenants>().ClusterOf("anyone"));
    }

    [Theory]
    [InlineData("Routing:Tenants:Map:acme", "nowhere", "Routing:Tenants:Map:acme names cluster 'nowhere', which is not configured")]
    [InlineData("Routing:Tenants:DefaultCluster", "nowhere", "Routing:Tenants:DefaultCluster is 'nowhere', which is not a cluster")]
    [InlineData("Routing:Pools:0:Name", "stray", "Routing:Pools and Routing:Clusters are both set")]
    [InlineData("Routing:Tenants:FreezeWaitTimeout", "00:00:00", "Routing:Tenants:FreezeWaitTimeout must be > 0")]
    [InlineData("Routing:Tenants:MaxConnectionsPerTenant", "-1", "Routing:Tenants:MaxConnectionsPerTenant must be >= 0")]
    [InlineData("Routing:Clusters:shared:Pools:1:UsageRatio", "-1", "Routing:Clusters:shared: Pool 'sync1': UsageRatio must be > 0")]
    [InlineData("Routing:Clusters:shared:Tenants:DefaultCluster", "shared", "Routing:Clusters:shared has its own Clusters or Tenants")]
    public void Bad_clusters_and_maps_fail_at_start_with_their_fix(string key, string value, string expected)
    {
        var settings = Settings(new() { [key] = value });
        if (key == "Routing:Pools:0:Name")
        {
            settings["Routing:Pools:0:ConnectionString"] = "Host=x";
        }

        var (provider, _) = Build(settings);
        using var _p = provider;
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<RoutingOptions>>().Value);
        Assert.Contains(ex.Failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Several_clusters_with_neither_a_map_nor_a_default_fail_at_start()
    {
        var settings = Settings();
        settings.Remove("Routing:Tenants:Map:acme");
        settings.Remove("Routing:Tenants:Map:initech");
        var (provider, _) = Build(settings);
        using var _p = provider;
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<RoutingOptions>>().Value);
        Assert.Contains(ex.Failures, f => f.Contains("neither a Map nor a DefaultCluster", StringComparison.Ordinal));
    }

    [Fact]
    public void A_tenant_map_without_clusters_is_reported()
    {
        var errors = RoutingSdk.Configuration.RoutingOptionsValidator.Collect(new RoutingOptions
        {
            Pools = [new RoutingPoolOptions { Name = "p", Role = PoolRole.Primary, ConnectionString = "Host=p" }],
            Tenants = new TenantOptions { Map = { ["acme"] = "shared" } },
        });
        Assert.Contains(errors, e => e.StartsWith("Routing:Tenants is set but Routing:Clusters is empty", StringComparison.Ordinal));
    }

    [Fact]
    public void A_tenant_listed_twice_in_a_case_sensitive_map_is_reported()
    {
        var options = new RoutingOptions { Tenants = new TenantOptions { Map = new Dictionary<string, string>(StringComparer.Ordinal) { ["Acme"] = "a", ["acme"] = "a" } } };
        options.Clusters["a"] = new RoutingOptions { Pools = [new RoutingPoolOptions { Name = "p", Role = PoolRole.Primary, ConnectionString = "Host=p" }] };
        var errors = RoutingSdk.Configuration.RoutingOptionsValidator.Collect(options);
        Assert.Contains(errors, e => e.Contains("lists tenant 'acme' twice", StringComparison.Ordinal));
    }

    [Fact]
    public void Decisions_carry_their_cluster_and_metrics_are_tagged_by_cluster_and_only_by_tenant_when_asked()
    {
        var (provider, configuration) = Build(Settings());
        using var _p = provider;
        var set = provider.GetRequiredService<ClusterSet>();
        var seen = new List<(string? Cluster, string? Tenant)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "routing.decisions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            string? tenant = null;
            foreach (var tag in tags)
            {
                tenant = tag.Key == "tenant" ? tag.Value as string : tenant;
            }

            var cluster = instrument.Meter.Tags?.FirstOrDefault(t => t.Key == "routing.cluster").Value as string;
            lock (seen)
            {
                seen.Add((cluster, tenant));
            }
        });
        listener.Start();

        using (TenantScope.Begin("initech"))
        {
            var decision = set.ClusterFor(null).Router.Decide(RouteRequest.Write, null);
            Assert.Equal("dedicated", decision.ClusterName);
        }

        configuration["Routing:Tenants:TagMetricsWithTenant"] = "true";
        configuration["Routing:Tenants:DefaultCluster"] = "shared";
        configuration.Reload();
        using (TenantScope.Begin("acme"))
        {
            Assert.Equal("shared", set.ClusterFor(null).Router.Decide(RouteRequest.Write, null).ClusterName);
        }

        using (TenantScope.Begin("from-a-header-7f3a"))
        {
            Assert.Equal("shared", set.ClusterFor(null).Router.Decide(RouteRequest.Write, null).ClusterName);
        }

        lock (seen)
        {
            Assert.Contains(("dedicated", (string?)null), seen);
            Assert.Contains(("shared", "acme"), seen);
            Assert.Contains(("shared", "(unmapped)"), seen); // a tenant outside the map is not a series of its own
            Assert.DoesNotContain(seen, s => s.Tenant == "from-a-header-7f3a");
            Assert.DoesNotContain(seen, s => s.Tenant == "initech");
        }
    }

    [Fact]
    public void Health_checks_cover_every_clusters_pools_tagged_by_cluster()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings()).Build();
        var services = new ServiceCollection();
        services.AddQueryRouting(configuration.GetSection("Routing"));
        services.AddHealthChecks().AddQueryRoutingPools();
        using var provider = services.BuildServiceProvider();
        var registrations = provider.GetRequiredService<IOptions<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckServiceOptions>>().Value.Registrations;
        Assert.Equal(
            ["routing-pool-dedicated-primary", "routing-pool-dedicated-sync1", "routing-pool-shared-primary", "routing-pool-shared-sync1"],
            registrations.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Contains("routing-cluster-dedicated", registrations.Single(r => r.Name == "routing-pool-dedicated-sync1").Tags);
    }
}
