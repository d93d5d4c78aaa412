using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;
using Xunit.Abstractions;

namespace RoutingSdk.IntegrationTests.Tenants;

/// <summary>
/// Health is per cluster: the dedicated cluster's only replica is frozen (SIGSTOP of every process) while tenants of
/// both clusters work. The dedicated tenant's reads move to its own primary (never to the other cluster), and the
/// shared cluster's tenants go on reading on their replicas and writing, untouched. Proven on the servers
/// (system_identifier, pg_is_in_recovery()).
/// </summary>
[Collection(SecondClusterCollection.Name)]
public sealed class TenantFaultTests(ClusterFixture shared, SecondClusterFixture dedicated, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(15);
    private readonly TenantTopology _topology = new(shared.Cluster, dedicated.Cluster);
    private long _sharedId;
    private long _dedicatedId;

    public async Task InitializeAsync()
    {
        (_sharedId, _dedicatedId) = await _topology.PrepareAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private sealed record Done(int Worker, string Tenant, long At, ServerIdentity Server, bool Write);

    [Fact]
    public async Task A_frozen_replica_in_one_cluster_moves_only_its_tenants_reads_and_stalls_no_other_tenant()
    {
        var configuration = TenantTopology.Configuration(_topology.Settings()); // health monitors with their defaults
        await using var services = TenantTopology.Services(configuration);
        var done = new ConcurrentQueue<Done>();
        var failures = new ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();

        // Workers 0-2 read for initech (dedicated), 3-5 read for acme (shared), 6 writes for acme.
        async Task WorkerAsync(int worker)
        {
            var tenant = worker < 3 ? "initech" : "acme";
            using var tenantScope = TenantScope.Begin(tenant);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var scope = services.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<TenantDb>();
                    ServerIdentity server;
                    if (worker == 6)
                    {
                        db.Entries.Add(new TenantEntry { Tenant = tenant, Token = Guid.NewGuid() });
                        await db.SaveChangesAsync();
                        using (RoutingScope.Begin(RouteKind.MasterOnly, "Tenants.WhereWritten"))
                        {
                            server = await db.Database.SqlQueryRaw<ServerIdentity>(TenantTopology.IdentitySql).SingleAsync();
                        }
                    }
                    else
                    {
                        using (RoutingScope.Begin(RouteKind.ReadReplica, "Tenants.Report", RoutingCategory.Report))
                        {
                            server = await db.Database.SqlQueryRaw<ServerIdentity>(TenantTopology.IdentitySql).SingleAsync();
                        }
                    }

                    done.Enqueue(new Done(worker, tenant, clock.ElapsedMilliseconds, server, worker == 6));
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }
            }
        }

        var workers = Enumerable.Range(0, 7).Select(i => Task.Run(() => WorkerAsync(i))).ToArray();
        long frozenAt, thawedAt;
        try
        {
            // Warm until the dedicated tenant reads on its replica (the server says so).
            var warm = DateTime.UtcNow.AddSeconds(30);
            while (!done.Any(d => d.Tenant == "initech" && d.Server.SystemIdentifier == _dedicatedId && d.Server.InRecovery) && DateTime.UtcNow < warm)
            {
                await Task.Delay(100);
            }

            Assert.True(failures.IsEmpty, $"{failures.Count} operations failed before the freeze; first: {failures.FirstOrDefault()}");
            Assert.Contains(done, d => d.Tenant == "initech" && d.Server.SystemIdentifier == _dedicatedId && d.Server.InRecovery);
            frozenAt = clock.ElapsedMilliseconds;
            await dedicated.Cluster.PauseNodeAsync(LocalPgCluster.Sync1);
            await Task.Delay(Hang);
        }
        finally
        {
            await dedicated.Cluster.ResumeNodeAsync(LocalPgCluster.Sync1);
        }

        thawedAt = clock.ElapsedMilliseconds;

        // Back: the dedicated tenant's reads return to its replica once the monitor readmits it.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!done.Any(d => d.At > thawedAt && d.Tenant == "initech" && d.Server.InRecovery) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers);

        var window = done.Where(d => d.At >= frozenAt + 5_000 && d.At < thawedAt).ToList();
        output.WriteLine($"in the window: initech reads {window.Count(d => d.Tenant == "initech")}, acme reads {window.Count(d => d.Tenant == "acme" && !d.Write)}, "
            + $"acme writes {window.Count(d => d.Write)}; failed {failures.Count}");

        Assert.True(failures.IsEmpty, $"{failures.Count} operations failed:\n{string.Join("\n----\n", failures.Take(3))}");

        // Nothing crossed: every operation ran on its tenant's cluster, before, during and after the freeze.
        Assert.All(done, d => Assert.Equal(d.Tenant == "initech" ? _dedicatedId : _sharedId, d.Server.SystemIdentifier));

        // No worker waited out the hang: each completed work from 5 s after the freeze to the thaw.
        Assert.All(Enumerable.Range(0, 7), w => Assert.True(window.Any(d => d.Worker == w), $"worker {w} completed nothing while dedicated/sync1 was frozen"));

        // The dedicated tenant's reads went to its own primary, the last resort of its cluster ...
        Assert.All(window.Where(d => d.Tenant == "initech"), d => Assert.False(d.Server.InRecovery, $"an initech read ran on {d.Server.Node} in recovery while dedicated/sync1 was frozen"));

        // ... while the shared cluster's reads stayed on its replicas and its writes on its primary.
        Assert.All(done.Where(d => d.Tenant == "acme" && !d.Write), d => Assert.True(d.Server.InRecovery, $"an acme report read ran on {d.Server.Node}, not a replica"));
        Assert.All(done.Where(d => d.Write), d => Assert.False(d.Server.InRecovery));

        Assert.Contains(done, d => d.At > thawedAt && d.Tenant == "initech" && d.Server.InRecovery);

        // Connections aborted on the frozen node gave their tenant slots back: nothing is held once the work stopped.
        var load = services.GetRequiredService<RoutingTenants>().GetLoad();
        Assert.All(load, l => Assert.True(l.OpenConnections == 0, $"{l.Tenant} still holds {l.OpenConnections} connection(s) on {l.Cluster}"));
        Assert.Contains(load, l => l.Tenant == "initech" && l.Connections > 0);
    }
}
