using Microsoft.Extensions.Options;

namespace RoutingSdk.Tenants;

/// <summary>One cluster's entry of the application's options, followed through reloads.</summary>
internal sealed class ClusterOptionsMonitor(IOptionsMonitor<RoutingOptions> root, string name) : IOptionsMonitor<RoutingOptions>
{
    public RoutingOptions CurrentValue => Pick(root.CurrentValue) ?? throw new RoutingException($"Routing:Clusters:{name} is no longer configured.");

    public RoutingOptions Get(string? optionsName) => CurrentValue;

    public IDisposable? OnChange(Action<RoutingOptions, string?> listener) =>
        root.OnChange((options, n) =>
        {
            if (Pick(options) is { } cluster)
            {
                listener(cluster, n);
            }
        });

    private RoutingOptions? Pick(RoutingOptions options) => options.Clusters.TryGetValue(name, out var cluster) ? cluster : null;
}
