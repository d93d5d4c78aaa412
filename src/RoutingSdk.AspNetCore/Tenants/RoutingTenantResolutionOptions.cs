using Microsoft.AspNetCore.Http;

namespace RoutingSdk.AspNetCore;

/// <summary>
/// How <c>app.UseRoutingTenant(...)</c> finds the tenant of a request, and what it does when a request has none.
/// Validated when the middleware is added.
/// </summary>
/// <remarks>
/// <para>
/// The sources are tried in this order; the first one that yields a usable value is the request's tenant:
/// <see cref="Resolve"/>, then <see cref="Claim"/>, then <see cref="RouteValue"/>, then <see cref="Header"/>.
/// From the most trusted to the least: a client cannot steer its request to another tenant's cluster with a URL or a
/// header when its signed-in identity names its tenant.
/// </para>
/// <para>
/// A value is trimmed. A source whose value is blank, or which carries several different values (two
/// <c>X-Tenant</c> headers, <c>X-Tenant: a, b</c>, two tenant claims), yields no tenant: the next source is tried, and
/// when none yields one, <see cref="WhenMissing"/> applies. Whether the tenant exists in the tenant map is RoutingSdk's
/// concern at the first statement, not the middleware's; whether the user may act for that tenant is the
/// application's (authorization).
/// </para>
/// </remarks>
public sealed class RoutingTenantResolutionOptions
{
    /// <summary>
    /// The request header that carries the tenant, e.g. <c>"X-Tenant"</c>. Any client can send a header: trust it only
    /// where something in front of the application (a gateway) sets it, or combine it with a <see cref="Claim"/>,
    /// which wins.
    /// </summary>
    public string? Header { get; set; }

    /// <summary>
    /// The claim type of the signed-in user that carries the tenant, e.g. <c>"tenant_id"</c>. Only claims of
    /// authenticated identities count. Needs authentication to have run before the middleware
    /// (<c>app.UseAuthentication()</c> before <c>app.UseRoutingTenant(...)</c>; a <c>WebApplication</c> with
    /// authentication services runs it first by itself).
    /// </summary>
    public string? Claim { get; set; }

    /// <summary>
    /// The route parameter that carries the tenant, e.g. <c>"tenant"</c> for <c>/t/{tenant}/invoices</c>. Needs
    /// endpoint routing to have run before the middleware: <c>app.UseRouting()</c> before
    /// <c>app.UseRoutingTenant(...)</c>, or neither call to <c>UseRouting</c> in a <c>WebApplication</c> (which then
    /// routes first by itself). The application fails at start when routing is placed after the middleware or missing.
    /// </summary>
    public string? RouteValue { get; set; }

    /// <summary>
    /// Your own way to find the tenant (a sub-domain, a lookup in a cache, ...): return it, or <see langword="null"/>
    /// when this request has none. Tried first; when it returns <see langword="null"/> or a blank value, the other
    /// configured sources are tried. It runs on every request, synchronously: for a lookup that must await, write
    /// your own middleware around <c>using (TenantScope.Begin(tenant))</c>.
    /// </summary>
    public Func<HttpContext, string?>? Resolve { get; set; }

    /// <summary>
    /// What a request without a tenant gets. Default <see cref="MissingTenantAction.Continue"/>: it runs without a
    /// tenant, so health probes, static files and other endpoints that need no database keep working.
    /// </summary>
    public MissingTenantAction WhenMissing { get; set; } = MissingTenantAction.Continue;
}

/// <summary>What <c>app.UseRoutingTenant(...)</c> does with a request whose tenant it could not find.</summary>
public enum MissingTenantAction
{
    /// <summary>
    /// The request runs without a tenant scope: its statements go to <see cref="TenantOptions.DefaultCluster"/>, or,
    /// without one, fail with <see cref="TenantNotResolvedException"/> before anything is sent. The default.
    /// </summary>
    Continue = 0,

    /// <summary>
    /// The request is answered <c>400 Bad Request</c> with a problem-details body naming where the tenant was expected
    /// (the header, claim or route value) and why the value found was not usable. Nothing after the middleware runs.
    /// </summary>
    Reject = 1,
}
