using Microsoft.Extensions.Configuration;
using RoutingSdk;

namespace ErpReports.Workload;

/// <summary>A tenant of the run (<see langword="null"/> name: the one-cluster configuration, no tenants) and its cluster's data.</summary>
public sealed record SampleTenant(string? Name, string Cluster, int Customers, int MaxInvoiceId)
{
    public string Label => Name ?? "(no tenant)";
}

/// <summary>Reads the sample's tenants and nodes from the configuration, as RoutingSdk sees the clusters.</summary>
public static class SampleTenants
{
    /// <summary>Each cluster with the tenants mapped to it (by <see cref="RoutingTenants.ClusterOf"/>), most tenants first; one unnamed cluster without tenants when only one is configured.</summary>
    public static List<(string Cluster, List<string?> Tenants)> ByCluster(IConfigurationSection map, RoutingTenants routing)
    {
        if (!routing.IsMultiCluster)
        {
            return [("", [null])];
        }

        var mapped = map.GetChildren().Select(c => c.Key).ToList();
        var result = new List<(string, List<string?>)>();
        foreach (var cluster in routing.Clusters)
        {
            var tenants = mapped.Where(t => string.Equals(routing.ClusterOf(t), cluster, StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.OrdinalIgnoreCase).Cast<string?>().ToList();
            if (tenants.Count > 0)
            {
                result.Add((cluster, tenants));
            }
        }

        // The shared cluster (most tenants) first: its first tenant runs the nightly report, on the cluster with most replicas.
        return result.OrderByDescending(c => c.Item2.Count).ThenBy(c => c.Item1, StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>
    /// The nodes whose pg_stat_statements the run reads: <c>Nodes:&lt;cluster&gt;:&lt;pool&gt;</c>, labelled "cluster/pool"
    /// like RoutingSdk's decisions; with one cluster (the global3config.xml mode) the nodes of <c>Nodes:shared</c>, by pool name.
    /// </summary>
    public static Dictionary<string, string> Nodes(IConfigurationSection nodes, RoutingTenants routing, out string? error)
    {
        error = null;
        var result = new Dictionary<string, string>();
        foreach (var cluster in routing.IsMultiCluster ? routing.Clusters : ["shared"])
        {
            var section = nodes.GetSection(cluster);
            if (!section.GetChildren().Any())
            {
                error = $"Nodes:{cluster} is missing from appsettings.json: the sample counts each node's statements in its pg_stat_statements. "
                    + $"List every node of cluster '{cluster}' there (Nodes:{cluster}:<pool name> = its connection string).";
                return result;
            }

            foreach (var node in section.GetChildren())
            {
                result[routing.IsMultiCluster ? $"{cluster}/{node.Key}" : node.Key] = node.Value ?? "";
            }
        }

        return result;
    }
}
