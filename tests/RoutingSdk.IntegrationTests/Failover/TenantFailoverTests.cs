using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.IntegrationTests.Tenants;
using RoutingSdk.Tenants;
using Xunit.Abstractions;

namespace RoutingSdk.IntegrationTests.Failover;

/// <summary>
/// Failover is per cluster: a Patroni switchover of one tenant's cluster under load, while another tenant works on a
/// second cluster. The switched cluster's tenant loses no acknowledged write and fails no read (as with one cluster);
/// the other cluster's tenant sees nothing: no failure, its primary unchanged, every write on its own cluster.
/// </summary>
[Collection(HaCollection.Name)]
public sealed class TenantFailoverTests(HaFixture ha, SecondClusterFixture small, ITestOutputHelper output) : IClassFixture<SecondClusterFixture>, IAsyncLifetime
{
    private readonly SecondClusterFixture _small = small; // the run's shared second cluster

    public Task InitializeAsync() => TenantTopology.EnsureSchemaAsync(_small.Cluster);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_switchover_of_one_tenants_cluster_leaves_the_other_clusters_tenant_untouched()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Routing:Clusters:ha:Discovery:Patroni:Template:ConnectionString"] = HaFixture.TemplateConnectionString,
            ["Routing:Clusters:ha:Failover:PrimaryWaitTimeout"] = "00:00:30",
            ["Routing:Clusters:small:Pools:0:Name"] = "primary",
            ["Routing:Clusters:small:Pools:0:Role"] = "Primary",
            ["Routing:Clusters:small:Pools:0:ConnectionString"] = _small.Cluster.PrimaryConnectionString,
            ["Routing:Clusters:small:Pools:1:Name"] = "sync1",
            ["Routing:Clusters:small:Pools:1:ConnectionString"] = _small.Cluster.Sync1ConnectionString,
            ["Routing:Tenants:Map:acme"] = "ha",
            ["Routing:Tenants:Map:initech"] = "small",
        };
        for (var i = 0; i < ha.Cluster.PatroniEndpoints.Count; i++)
        {
            settings[$"Routing:Clusters:ha:Discovery:Patroni:Endpoints:{i}"] = ha.Cluster.PatroniEndpoints[i];
        }

        var services = new ServiceCollection();
        services.AddQueryRouting(new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection("Routing"));
        services.AddDbContext<HaDb>((sp, o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp));
        services.AddDbContext<TenantDb>((sp, o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp));
        await using var sp = services.BuildServiceProvider();
        var clusters = sp.GetRequiredService<ClusterSet>();
        var haRouter = clusters.Clusters.Single(c => c.Name == "ha").Router;
        var smallRouter = clusters.Clusters.Single(c => c.Name == "small").Router;
        var smallId = await TenantTopology.SystemIdentifierAsync(_small.Cluster);

        // initech works on the small cluster the whole time: writes through EF Core, report reads on its replica.
        using var stop = new CancellationTokenSource();
        var written = new ConcurrentQueue<Guid>();
        var failures = new ConcurrentQueue<Exception>();
        var reads = new ConcurrentQueue<ServerIdentity>();
        var initech = Task.Run(async () =>
        {
            using var tenant = TenantScope.Begin("initech");
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var scope = sp.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
                    var token = Guid.NewGuid();
                    db.Entries.Add(new TenantEntry { Tenant = "initech", Token = token });
                    await db.SaveChangesAsync();
                    written.Enqueue(token);
                    using (RoutingScope.Begin(RouteKind.ReadReplica, "Tenants.Report", RoutingCategory.Report))
                    {
                        reads.Enqueue(await db.Database.SqlQueryRaw<ServerIdentity>(TenantTopology.IdentitySql).SingleAsync());
                    }
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }

                await Task.Delay(10);
            }
        });

        // Warm: both clusters serve (Patroni discovery has found the leader).
        var smallPrimaryBefore = smallRouter.CurrentPrimary?.Name;
        string? haPrimaryBefore;
        using (TenantScope.Begin("acme"))
        {
            await using var scope = sp.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<HaDb>().Probes.CountAsync();
            haPrimaryBefore = haRouter.CurrentPrimary?.Name;
        }

        FailoverWorkload workload;
        using (TenantScope.Begin("acme")) // flows into the workload's tasks
        {
            workload = await FailoverWorkload.RunAsync(sp, TimeSpan.FromSeconds(24), TimeSpan.FromSeconds(5), () => ha.Cluster.SwitchoverAsync());
        }

        await stop.CancelAsync();
        await initech;
        output.WriteLine($"ha: switchover {haPrimaryBefore} -> {workload.DisruptionResult}: {workload.Describe()}; small: {written.Count} writes, {reads.Count} reads, {failures.Count} failures");

        try
        {
            // The switched cluster's tenant: as with one cluster (FailoverTests.Planned_switchover_under_load_...).
            Assert.All(workload.WriteFailures, f => Assert.True(f.Error is PrimaryConnectionLostException { CommittedLocally: true }, f.Error.ToString()));
            Assert.Empty(workload.ReadFailures);
            Assert.NotEmpty(workload.Acknowledged);
            Assert.NotEqual(haPrimaryBefore, haRouter.CurrentPrimary?.Name);

            // The other cluster's tenant saw nothing of it.
            Assert.True(failures.IsEmpty, $"{failures.Count} initech operations failed during the other cluster's switchover; first: {failures.FirstOrDefault()}");
            Assert.Equal(smallPrimaryBefore, smallRouter.CurrentPrimary?.Name);
            Assert.NotEmpty(reads);
            Assert.All(reads, r => Assert.Equal(smallId, r.SystemIdentifier));
            var stored = (await TenantTopology.EntriesAsync(_small.Cluster, "initech")).Select(e => e.Token).ToHashSet();
            Assert.All(written, token => Assert.Contains(token, stored));
        }
        finally
        {
            await ha.Cluster.EnsureHealthyAsync();
        }
    }
}
