namespace RoutingSdk.AspNetCore;

/// <summary>Who may see the operations page and who may flip its switches. Validated when the page is mapped.</summary>
public sealed class QueryRoutingDashboardOptions
{
    /// <summary>
    /// The authorization policy required to see the page and its JSON status (e.g. <c>"RoutingOperators"</c>, defined
    /// with <c>services.AddAuthorization(o =&gt; o.AddPolicy(...))</c>). Required unless <see cref="AllowAnonymousReadOnly"/>.
    /// </summary>
    public string? ViewPolicy { get; set; }

    /// <summary>
    /// The authorization policy required to flip the runtime switches (send a category or scenario to the primary and
    /// back). Without it the page is read-only. Switch requests must also carry the page's antiforgery token.
    /// </summary>
    public string? SwitchPolicy { get; set; }

    /// <summary>
    /// Lets anyone who can reach the page see it, read-only, with no policy (for a developer's machine or the sample).
    /// Switches are never anonymous: setting <see cref="SwitchPolicy"/> still requires that policy for them.
    /// </summary>
    public bool AllowAnonymousReadOnly { get; set; }

    /// <summary>
    /// Called after a switch was applied (it is already in force). Switches live in memory and survive configuration
    /// reloads, not restarts: a host that wants them to persist writes them here to its configuration source
    /// (e.g. <c>RoutingSdk:Overrides:Categories:Report:Route = MasterOnly</c>), which then applies them as configuration.
    /// </summary>
    public Func<RoutingSwitchChange, CancellationToken, Task>? SwitchChanged { get; set; }
}

/// <summary>A runtime switch that was flipped on the operations page.</summary>
/// <param name="Category">The category switched, or <see langword="null"/> for a scenario switch.</param>
/// <param name="Scenario">The scenario switched, or <see langword="null"/> for a category switch.</param>
/// <param name="ToPrimary"><see langword="true"/>: its operations now run on the primary; <see langword="false"/>: back to what configuration says.</param>
/// <param name="User">The name of the user who flipped it, if known.</param>
public sealed record RoutingSwitchChange(RoutingCategory? Category, string? Scenario, bool ToPrimary, string? User)
{
    /// <summary>The cluster whose switch was flipped (several clusters configured); <see langword="null"/> with one cluster.</summary>
    public string? Cluster { get; init; }
}
