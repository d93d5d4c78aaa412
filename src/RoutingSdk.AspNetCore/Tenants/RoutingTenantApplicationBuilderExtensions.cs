using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RoutingSdk;
using RoutingSdk.AspNetCore;
using RoutingSdk.AspNetCore.Tenants;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the middleware that runs each request in its tenant's <see cref="TenantScope"/>.</summary>
public static class RoutingTenantApplicationBuilderExtensions
{
    // Set by UseRouting() (an explicit call) and by WebApplication (which routes first by itself when the
    // application calls no UseRouting()); the keys ASP.NET Core's own middleware uses to see where routing is.
    private const string EndpointRouteBuilderKey = "__EndpointRouteBuilder";
    private const string GlobalEndpointRouteBuilderKey = "__GlobalEndpointRouteBuilder";

    /// <summary>
    /// Finds each request's tenant (from a claim, a route value, a header or your own resolver, see
    /// <see cref="RoutingTenantResolutionOptions"/>) and runs the rest of the pipeline inside
    /// <c>TenantScope.Begin(tenant)</c>, disposed when the request ends: every statement of the request goes to its
    /// tenant's cluster. A request without a tenant runs without a scope, or is answered 400 with
    /// <see cref="MissingTenantAction.Reject"/>.
    /// </summary>
    /// <remarks>
    /// Place it after <c>app.UseAuthentication()</c> when the tenant comes from a claim, and after
    /// <c>app.UseRouting()</c> when it comes from a route value (a <c>WebApplication</c> runs both first by itself when
    /// the application does not call them). With a route value, <c>app.UseRouting()</c> called after this middleware
    /// fails the application at start; where that cannot be seen at start (inside a <c>UseWhen</c> or <c>Map</c>
    /// branch), the first request routed after the middleware logs an error. To apply it to part of the application
    /// only, wrap it:
    /// <c>app.UseWhen(c =&gt; c.Request.Path.StartsWithSegments("/api"), b =&gt; b.UseRoutingTenant(...))</c>.
    /// </remarks>
    /// <param name="app">The application's pipeline.</param>
    /// <param name="configure">Says where the tenant is; at least one source is required.</param>
    /// <returns><paramref name="app"/>, for further calls.</returns>
    /// <exception cref="ArgumentException">The options name no source of the tenant, or a blank or malformed name. The message names the fix.</exception>
    /// <example>
    /// <code>
    /// app.UseAuthentication();
    /// app.UseRoutingTenant(o =&gt;
    /// {
    ///     o.Claim = "tenant_id";    // a signed-in user's tenant
    ///     o.Header = "X-Tenant";    // otherwise the header set by the gateway
    ///     o.WhenMissing = MissingTenantAction.Reject;
    /// });
    /// </code>
    /// </example>
    public static IApplicationBuilder UseRoutingTenant(this IApplicationBuilder app, Action<RoutingTenantResolutionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new RoutingTenantResolutionOptions();
        configure(options);
        Validate(options, nameof(configure));

        var resolver = new RoutingTenantResolver(options);
        var whenMissing = options.WhenMissing;
        var routedBefore = app.Properties.ContainsKey(EndpointRouteBuilderKey);
        var webApplication = app.Properties.ContainsKey(GlobalEndpointRouteBuilderKey);
        var logger = (ILogger?)app.ApplicationServices.GetService<ILoggerFactory>()?.CreateLogger("RoutingSdk.AspNetCore.Tenants")
            ?? NullLogger.Instance;

        return app.Use(next =>
        {
            // Runs when the pipeline is built, at start, after every Use...() call of the application: only now can
            // a UseRouting() placed after this middleware be seen.
            if (resolver.RouteValue is not null && !routedBefore && app.Properties.ContainsKey(EndpointRouteBuilderKey))
            {
                throw new InvalidOperationException(
                    $"UseRoutingTenant reads the route value '{resolver.RouteValue}', but app.UseRouting() is called after it, so route values do not exist yet " +
                    "when it runs: call app.UseRouting() before app.UseRoutingTenant(...).");
            }

            // Neither an earlier UseRouting() nor a WebApplication's own (which routes first): a branch (UseWhen, Map)
            // hides the routing of the pipeline around it, so whether routing runs first is only seen per request.
            var watchRouting = resolver.RouteValue is not null && !routedBefore && !webApplication;
            return new RoutingTenantMiddleware(next, resolver, whenMissing, watchRouting, logger).InvokeAsync;
        });
    }

    private static void Validate(RoutingTenantResolutionOptions options, string parameter)
    {
        if (options.Header is null && options.Claim is null && options.RouteValue is null && options.Resolve is null)
        {
            throw new ArgumentException(
                "UseRoutingTenant has no way to find a request's tenant: set at least one of o.Claim (e.g. \"tenant_id\"), " +
                "o.RouteValue (e.g. \"tenant\"), o.Header (e.g. \"X-Tenant\") or o.Resolve (your own function of the HttpContext).",
                parameter);
        }

        if (options.Header is { } header && !IsHeaderName(header))
        {
            throw new ArgumentException(
                $"o.Header '{header}' is not a header name: give the name alone, e.g. \"X-Tenant\" (letters, digits and - _ . ! # $ % & ' * + ^ ` | ~; no spaces or colon), or leave it unset.",
                parameter);
        }

        if (options.Claim is { } claim && (claim.Length == 0 || claim.Trim().Length != claim.Length))
        {
            throw new ArgumentException(
                $"o.Claim '{claim}' is blank or has spaces around it: give the claim type exactly as your authentication issues it, e.g. \"tenant_id\", or leave it unset.",
                parameter);
        }

        if (options.RouteValue is { } route)
        {
            if (route.Length == 0 || route.Trim().Length != route.Length)
            {
                throw new ArgumentException(
                    $"o.RouteValue '{route}' is blank or has spaces around it: give the route parameter's name, e.g. \"tenant\" for \"/t/{{tenant}}/invoices\", or leave it unset.",
                    parameter);
            }

            if (route.StartsWith('{') || route.EndsWith('}'))
            {
                throw new ArgumentException(
                    $"o.RouteValue '{route}' has braces: give the route parameter's name without them, e.g. \"tenant\" for \"/t/{{tenant}}/invoices\".",
                    parameter);
            }
        }

        if (!Enum.IsDefined(options.WhenMissing))
        {
            throw new ArgumentException(
                $"o.WhenMissing {(int)options.WhenMissing} is not a MissingTenantAction: use MissingTenantAction.Continue or MissingTenantAction.Reject.",
                parameter);
        }
    }

    /// <summary>An HTTP field name: one or more token characters (RFC 9110, 5.1 and 5.6.2).</summary>
    private static bool IsHeaderName(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }
}
