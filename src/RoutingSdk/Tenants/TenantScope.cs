namespace RoutingSdk;

/// <summary>
/// The ambient tenant of the current request, job or message. With several clusters configured
/// (<see cref="RoutingOptions.Clusters"/>), every statement goes to its tenant's cluster (<see cref="TenantOptions.Map"/>);
/// it flows with async calls like <see cref="RoutingScope"/> and nests (the innermost tenant is in force).
/// </summary>
/// <example>
/// <code>
/// using (TenantScope.Begin("acme"))
/// {
///     await invoices.PostAsync(...); // acme's cluster: its primary for writes, its replicas for reads
/// }
/// </code>
/// </example>
public sealed class TenantScope : IDisposable
{
    private static readonly AsyncLocal<TenantScope?> CurrentScope = new();

    private TenantScope(string tenant, TenantScope? parent)
    {
        Tenant = tenant;
        Parent = parent;
    }

    /// <summary>The innermost tenant scope of the current async flow, or <see langword="null"/> outside any.</summary>
    public static TenantScope? Current => CurrentScope.Value;

    /// <summary>The current tenant, or <see langword="null"/> outside any tenant scope.</summary>
    public static string? CurrentTenant => CurrentScope.Value?.Tenant;

    /// <summary>The tenant's identifier, as it appears in <see cref="TenantOptions.Map"/>.</summary>
    public string Tenant { get; }

    /// <summary>The enclosing tenant scope.</summary>
    public TenantScope? Parent { get; }

    /// <summary>Starts a tenant scope for the current async flow. Dispose it (with <c>using</c>) when the request, job or message ends.</summary>
    /// <param name="tenant">The tenant's identifier, as in the tenant map (compared case-insensitively, as configuration keys are).</param>
    /// <exception cref="ArgumentException">An empty or blank tenant.</exception>
    public static TenantScope Begin(string tenant)
    {
        if (string.IsNullOrWhiteSpace(tenant))
        {
            throw new ArgumentException("The tenant must not be empty: pass the identifier the tenant map (Routing:Tenants:Map) uses.", nameof(tenant));
        }

        var scope = new TenantScope(tenant, CurrentScope.Value);
        CurrentScope.Value = scope;
        return scope;
    }

    /// <summary>Ends the scope: the current flow's tenant returns to the outer one.</summary>
    public void Dispose() => Scopes.AmbientScopes.End(CurrentScope, this, static s => s.Parent);

    /// <inheritdoc />
    public override string ToString() => Tenant;
}
