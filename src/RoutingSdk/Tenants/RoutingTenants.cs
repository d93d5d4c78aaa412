using RoutingSdk.Tenants;

namespace RoutingSdk;

/// <summary>One tenant's load on one cluster (RoutingSdk's connections), for the operations page and your own monitoring.</summary>
/// <param name="Tenant">The tenant.</param>
/// <param name="Cluster">The cluster's name.</param>
/// <param name="OpenConnections">Connections the tenant holds open now.</param>
/// <param name="OpenWriteConnections">Of those, the ones that may write (on the primary for a write, a transaction or a connection you opened).</param>
/// <param name="Connections">Connections opened since start.</param>
/// <param name="Rejected">Connections refused by <see cref="TenantOptions.MaxConnectionsPerTenant"/> since start.</param>
public sealed record TenantLoad(string Tenant, string Cluster, int OpenConnections, int OpenWriteConnections, long Connections, long Rejected);

/// <summary>
/// Tenants across clusters at run time: which cluster serves a tenant, each tenant's load, and freezing a tenant's
/// writes while it is moved to another cluster (docs/operations.md, "Moving a tenant"). Resolve it from DI after
/// <c>AddQueryRouting</c>.
/// </summary>
public sealed class RoutingTenants
{
    private readonly ClusterSet _clusters;

    internal RoutingTenants(ClusterSet clusters) => _clusters = clusters;

    /// <summary>Whether several clusters are configured (<see cref="RoutingOptions.Clusters"/>).</summary>
    public bool IsMultiCluster => _clusters.IsMulti;

    /// <summary>The configured clusters' names (empty with one cluster configured).</summary>
    public IReadOnlyList<string> Clusters => _clusters.IsMulti ? _clusters.Clusters.Select(c => c.Name!).Order(StringComparer.OrdinalIgnoreCase).ToList() : [];

    /// <summary>The cluster that serves <paramref name="tenant"/> now (the map, else the default cluster).</summary>
    /// <exception cref="TenantNotResolvedException">The tenant is not mapped and there is no default cluster.</exception>
    /// <exception cref="InvalidOperationException">One cluster is configured: there is no tenant map.</exception>
    public string ClusterOf(string tenant)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenant);
        EnsureMulti();
        using (TenantScope.Begin(tenant))
        {
            return _clusters.ForSettingsStrict().Name!;
        }
    }

    /// <summary>
    /// Freezes <paramref name="tenant"/>'s writes in this application instance and waits until the writes already
    /// running here have finished: from then on, until the returned handle is disposed, its writes wait (at most
    /// <see cref="TenantOptions.FreezeWaitTimeout"/>, then <see cref="TenantFrozenException"/>) and its reads continue.
    /// Move the tenant (copy, check, edit <see cref="TenantOptions.Map"/>), then dispose the handle: waiting writes go
    /// to the new cluster. Several instances: freeze in every one, or list the tenant in
    /// <see cref="TenantOptions.FrozenTenants"/> (reloaded by every instance) and wait for their writes to drain.
    /// </summary>
    /// <param name="tenant">The tenant to freeze.</param>
    /// <param name="drainTimeout">How long to wait for the tenant's running writes; the freeze is lifted again if they do not finish.</param>
    /// <param name="cancellationToken">Cancels the wait (the freeze is lifted).</param>
    /// <exception cref="TimeoutException">Writes of the tenant were still running after <paramref name="drainTimeout"/>; the freeze was lifted.</exception>
    public async Task<IDisposable> FreezeWritesAsync(string tenant, TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenant);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(drainTimeout, TimeSpan.Zero);
        EnsureMulti();
        var freeze = _clusters.Freeze(tenant);
        try
        {
            var drained = _clusters.Clusters.Select(c => _clusters.SlotsOf(c, tenant).WritesDrained).ToArray();
            await Task.WhenAll(drained).WaitAsync(drainTimeout, cancellationToken).ConfigureAwait(false);
            return freeze;
        }
        catch (TimeoutException)
        {
            freeze.Dispose();
            var open = _clusters.Clusters.Sum(c => _clusters.SlotsOf(c, tenant).OpenMayWrite);
            throw new TimeoutException(
                $"Tenant '{tenant}' still had {open} connection(s) that may write after {drainTimeout}: its writes were not frozen. "
                + "Find what holds them (a long transaction, a connection opened by hand) and try again, or give the drain more time.");
        }
        catch
        {
            freeze.Dispose();
            throw;
        }
    }

    /// <summary>Each tenant's load on each cluster, busiest first.</summary>
    public IReadOnlyList<TenantLoad> GetLoad() =>
        _clusters.Clusters
            .SelectMany(c => c.Tenants.Select(t => new TenantLoad(t.Tenant, c.Name ?? "(default)", t.Open, t.OpenMayWrite, t.Connections, t.Rejected)))
            .OrderByDescending(l => l.OpenConnections).ThenByDescending(l => l.Connections).ThenBy(l => l.Tenant, StringComparer.OrdinalIgnoreCase)
            .ToList();

    private void EnsureMulti()
    {
        if (!_clusters.IsMulti)
        {
            throw new InvalidOperationException(
                "One cluster is configured, so there are no tenants to place: configure Routing:Clusters and Routing:Tenants (docs/configuration.md, \"Tenants across clusters\").");
        }
    }
}
