using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using RoutingSdk.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk.Diagnostics;

namespace RoutingSdk.Tenants;

/// <summary>The set's configuration: the clusters and the map built from the options, followed through reloads, and the clusters' monitors started and stopped with the host.</summary>
internal sealed partial class ClusterSet
{
    private void Reload(RoutingOptions options)
    {
        try
        {
            lock (_applyLock)
            {
                if (!IsMultiCluster(options))
                {
                    throw new RoutingConfigurationException(
                        ["Routing:Clusters became empty: switching from several clusters to one needs a restart. Keep the clusters, or restart the application."]);
                }

                var old = _snapshot;
                _snapshot = Build(options, old, []);
                old.Changed.TrySetResult();
            }

            if (Volatile.Read(ref _started) == 1)
            {
                // A cluster added by this reload: its monitor starts like the others (a failure is logged by it).
                using (ExecutionContext.SuppressFlow())
                {
                    _ = Task.Run(async () =>
                    {
                        foreach (var cluster in _snapshot.Clusters.Values.Where(c => c.Owned))
                        {
                            if (cluster.Monitor is { } monitor)
                            {
                                await monitor.StartOnFirstUseAsync().ConfigureAwait(false);
                            }
                        }
                    });
                }
            }
        }
        catch (RoutingConfigurationException ex)
        {
            RoutingLog.ReloadRejected(_logger, string.Join(" ", ex.Problems));
        }
    }

    /// <summary>Validates the clusters and the map, makes the clusters that are new, and publishes the snapshot.</summary>
    private Snapshot Build(RoutingOptions options, Snapshot previous, IEnumerable<RoutingConfigurationSection> sections)
    {
        var errors = TenancyOptionsValidator.Collect(options);
        if (errors.Count > 0)
        {
            throw new RoutingConfigurationException(errors);
        }

        var clusters = new Dictionary<string, RoutingCluster>(previous.Clusters, StringComparer.OrdinalIgnoreCase);
        var sectionList = sections.ToList();
        foreach (var name in options.Clusters.Keys.Order(StringComparer.OrdinalIgnoreCase))
        {
            if (!clusters.ContainsKey(name))
            {
                clusters[name] = RoutingCluster.Create(_services!, name, clusters.Count == 0 ? sectionList : []);
                if (previous.Clusters.Count > 0)
                {
                    ClusterAdded(_logger, name);
                }
            }
        }

        foreach (var name in previous.Clusters.Keys.Where(n => !options.Clusters.ContainsKey(n)))
        {
            ClusterRemoved(_logger, name); // still running; nothing maps to it (validated)
        }

        var tagged = options.Tenants.TagMetricsWithTenant ? options.Tenants.Map.Keys.ToFrozenSet(StringComparer.OrdinalIgnoreCase) : null;
        foreach (var cluster in clusters.Values)
        {
            cluster.Router.Metrics.TaggedTenants = tagged;
        }

        var map = options.Tenants.Map.ToFrozenDictionary(e => e.Key, e => clusters[e.Value], StringComparer.OrdinalIgnoreCase);
        var fallback = options.Tenants.DefaultCluster is { } d ? clusters[d] : null;
        return new Snapshot(
            clusters.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), map, fallback,
            fallback ?? clusters[options.Clusters.Keys.Order(StringComparer.OrdinalIgnoreCase).First()],
            (options.Tenants.FrozenTenants ?? []).ToFrozenSet(StringComparer.OrdinalIgnoreCase), options.Tenants,
            new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    /// <summary>Starts the health monitors of the clusters this set made (the host starts a single cluster's own monitor).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _started, 1);
        return StartMonitors(cancellationToken);
    }

    private async Task StartMonitors(CancellationToken cancellationToken)
    {
        foreach (var cluster in _snapshot.Clusters.Values)
        {
            if (cluster.Owned && cluster.Monitor is { } monitor)
            {
                await monitor.StartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var cluster in _snapshot.Clusters.Values)
        {
            if (cluster.Owned && cluster.Monitor is { } monitor)
            {
                await monitor.StopAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void Dispose()
    {
        _subscription?.Dispose();
        foreach (var cluster in _snapshot.Clusters.Values.Where(c => c.Owned))
        {
            cluster.Monitor?.Dispose();
            cluster.Router.Dispose();
            cluster.DataSources?.Dispose();
        }
    }

    private sealed record Snapshot(
        FrozenDictionary<string, RoutingCluster> Clusters, FrozenDictionary<string, RoutingCluster> Map, RoutingCluster? Default, RoutingCluster? Fallback,
        FrozenSet<string> Frozen, TenantOptions Options, TaskCompletionSource Changed)
    {
        public static readonly Snapshot Empty = new(
            FrozenDictionary<string, RoutingCluster>.Empty, FrozenDictionary<string, RoutingCluster>.Empty, null, null, FrozenSet<string>.Empty, new TenantOptions(),
            new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    [LoggerMessage(60, LogLevel.Information, "Routing configuration reload added cluster {Cluster}; tenants mapped to it are served from now on")]
    private static partial void ClusterAdded(ILogger logger, string cluster);

    [LoggerMessage(61, LogLevel.Warning, "Routing configuration reload removed cluster {Cluster}: no tenant maps to it any more; its health monitor and connections stay until the application restarts")]
    private static partial void ClusterRemoved(ILogger logger, string cluster);
}
