namespace RoutingSdk.Configuration;

/// <summary>Checks a several-cluster configuration (<see cref="RoutingOptions.Clusters"/> and <see cref="TenantOptions"/>), each problem with its fix.</summary>
internal static class TenancyOptionsValidator
{
    /// <summary>
    /// Several clusters: each cluster's own settings (prefixed with its name), and the tenant map: known clusters only,
    /// no blank or case-duplicate tenant, a default or at least one entry, positive waits.
    /// </summary>
    public static List<string> Collect(RoutingOptions options)
    {
        var errors = new List<string>();
        if (options.Pools is { Count: > 0 })
        {
            errors.Add("Routing:Pools and Routing:Clusters are both set: with several clusters every pool belongs to a cluster. Move the pools into Routing:Clusters:<name>:Pools.");
        }

        if (options.Discovery?.Patroni is { Enabled: true })
        {
            errors.Add("Routing:Discovery and Routing:Clusters are both set: with several clusters discovery belongs to a cluster. Move it into Routing:Clusters:<name>:Discovery.");
        }

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, cluster) in options.Clusters)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add("Routing:Clusters has an entry with an empty name: name every cluster (e.g. \"shared\", \"dedicated\").");
                continue;
            }

            if (!names.Add(name))
            {
                errors.Add($"Routing:Clusters:{name} is listed twice (names differ only in case): cluster names are case-insensitive; rename one.");
            }

            if (cluster is null)
            {
                errors.Add($"Routing:Clusters:{name} is empty: give it Pools (or Discovery), or remove it.");
                continue;
            }

            if (cluster.Clusters is { Count: > 0 } || cluster.Tenants is { Map.Count: > 0 } or { DefaultCluster: not null } or { FrozenTenants.Count: > 0 })
            {
                errors.Add($"Routing:Clusters:{name} has its own Clusters or Tenants: clusters do not nest, and the tenant map is one for all clusters (Routing:Tenants). Remove them from the cluster.");
            }

            errors.AddRange(RoutingOptionsValidator.Collect(cluster).Select(e => $"Routing:Clusters:{name}: {e}"));
        }

        var tenants = options.Tenants ?? new TenantOptions();
        if (tenants.DefaultCluster is { } fallback && !names.Contains(fallback))
        {
            errors.Add($"Routing:Tenants:DefaultCluster is '{fallback}', which is not a cluster: use one of {string.Join(", ", names.Order().Select(n => $"'{n}'"))}, or remove it.");
        }

        var tenantNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (tenant, cluster) in tenants.Map ?? [])
        {
            if (string.IsNullOrWhiteSpace(tenant))
            {
                errors.Add("Routing:Tenants:Map has an entry with an empty tenant: remove it.");
                continue;
            }

            if (!tenantNames.Add(tenant))
            {
                errors.Add($"Routing:Tenants:Map lists tenant '{tenant}' twice (identifiers differ only in case): tenant identifiers are case-insensitive; keep one entry.");
            }

            if (string.IsNullOrWhiteSpace(cluster) || !names.Contains(cluster))
            {
                errors.Add($"Routing:Tenants:Map:{tenant} names cluster '{cluster}', which is not configured: use one of {string.Join(", ", names.Order().Select(n => $"'{n}'"))}, or add the cluster to Routing:Clusters.");
            }
        }

        if (tenants.DefaultCluster is null && (tenants.Map is null || tenants.Map.Count == 0))
        {
            errors.Add("Several clusters are configured but Routing:Tenants has neither a Map nor a DefaultCluster: no statement could be routed. "
                + "Map tenants to clusters (Routing:Tenants:Map:<tenant> = <cluster>) and/or set Routing:Tenants:DefaultCluster.");
        }

        if (tenants.FreezeWaitTimeout <= TimeSpan.Zero)
        {
            errors.Add($"Routing:Tenants:FreezeWaitTimeout must be > 0 (was {tenants.FreezeWaitTimeout}): it bounds how long a frozen tenant's write waits.");
        }

        if (tenants.LimitWaitTimeout <= TimeSpan.Zero)
        {
            errors.Add($"Routing:Tenants:LimitWaitTimeout must be > 0 (was {tenants.LimitWaitTimeout}): it bounds how long a connection waits under MaxConnectionsPerTenant.");
        }

        if (tenants.MaxConnectionsPerTenant < 0)
        {
            errors.Add($"Routing:Tenants:MaxConnectionsPerTenant must be >= 0 (was {tenants.MaxConnectionsPerTenant}); 0 means no limit.");
        }

        foreach (var frozen in tenants.FrozenTenants ?? [])
        {
            if (string.IsNullOrWhiteSpace(frozen))
            {
                errors.Add("Routing:Tenants:FrozenTenants has an empty entry: remove it.");
            }
        }

        return errors;
    }
}
