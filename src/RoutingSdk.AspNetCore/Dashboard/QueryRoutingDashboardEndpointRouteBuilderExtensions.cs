using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RoutingSdk;
using RoutingSdk.AspNetCore;
using RoutingSdk.AspNetCore.Dashboard;
using RoutingSdk.Routing;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps RoutingSdk's operations page.</summary>
public static class QueryRoutingDashboardEndpointRouteBuilderExtensions
{
    private static readonly ConditionalWeakTable<QueryRouter, RoutingActivityCollector> Collectors = new();

    /// <summary>
    /// Serves the operations page at <paramref name="pattern"/> (self-contained: nothing is fetched from elsewhere),
    /// its JSON status at <c>{pattern}/status</c> and, with <see cref="QueryRoutingDashboardOptions.SwitchPolicy"/>, the
    /// runtime switches at <c>{pattern}/switches</c> (POST, antiforgery token required).
    /// </summary>
    /// <param name="endpoints">The application's endpoints.</param>
    /// <param name="pattern">Where the page lives, e.g. <c>/routing</c>.</param>
    /// <param name="configure">Sets the policies; a view policy (or the explicit anonymous read-only opt-in) is required.</param>
    /// <returns>The endpoints' group, for further conventions.</returns>
    /// <exception cref="InvalidOperationException">
    /// No policy was given, a policy does not exist, authorization or antiforgery services are missing, or
    /// <c>AddQueryRouting</c> was not called. The message names the fix.
    /// </exception>
    public static IEndpointConventionBuilder MapQueryRoutingDashboard(
        this IEndpointRouteBuilder endpoints, string pattern = "/routing", Action<QueryRoutingDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var options = new QueryRoutingDashboardOptions();
        configure?.Invoke(options);
        var services = endpoints.ServiceProvider;
        var clusters = services.GetService<RoutingSdk.Tenants.ClusterSet>()
            ?? throw new InvalidOperationException("MapQueryRoutingDashboard needs RoutingSdk's services: call services.AddQueryRouting(...) first.");
        Validate(options, services);
        var lifetime = services.GetService<IHostApplicationLifetime>();

        // One collector per cluster, made when the page first shows that cluster (several clusters: ?cluster=name).
        RoutingActivityCollector CollectorFor(QueryRouter router) => Collectors.GetValue(router, r =>
        {
            var made = new RoutingActivityCollector(r);
            lifetime?.ApplicationStopped.Register(made.Dispose);
            return made;
        });
        _ = CollectorFor(clusters.Fallback.Router);

        // Never AllowAnonymous() on the group: ASP.NET Core skips authorization for any endpoint carrying
        // IAllowAnonymous, so it would open the switches too. Only the two read-only endpoints get it.
        var group = endpoints.MapGroup(pattern);
        if (options.ViewPolicy is { } view)
        {
            group.RequireAuthorization(view);
        }

        var switchesMapped = options.SwitchPolicy is not null;
        var page = group.MapGet("/", async (HttpContext context) =>
        {
            var token = "";
            if (switchesMapped && (await context.RequestServices.GetRequiredService<IAuthorizationService>()
                    .AuthorizeAsync(context.User, options.SwitchPolicy!)).Succeeded)
            {
                token = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context).RequestToken ?? "";
            }

            Secure(context.Response);
            context.Response.ContentType = "text/html; charset=utf-8";
            await context.Response.WriteAsync(DashboardPage.Render(token, switchesMapped));
        });

        var status = group.MapGet("/status", (HttpContext context) =>
        {
            Secure(context.Response);
            if (ClusterOf(context, clusters) is not { } cluster)
            {
                return UnknownCluster(context, clusters);
            }

            return Results.Text(DashboardStatus.Build(cluster, clusters, CollectorFor(cluster.Router), switchesMapped), "application/json");
        });

        if (options.ViewPolicy is null)
        {
            page.AllowAnonymous();
            status.AllowAnonymous();
        }

        if (switchesMapped)
        {
            group.MapPost("/switches", (Delegate)((HttpContext context) => ClusterOf(context, clusters) is { } cluster
                ? SwitchAsync(context, cluster, clusters, CollectorFor(cluster.Router), options)
                : Task.FromResult(UnknownCluster(context, clusters)))).RequireAuthorization(options.SwitchPolicy!);
        }

        return group;
    }

    /// <summary>The cluster the request shows (<c>?cluster=name</c>; without it, the default or first cluster), or <see langword="null"/> for an unknown name.</summary>
    private static RoutingSdk.Tenants.RoutingCluster? ClusterOf(HttpContext context, RoutingSdk.Tenants.ClusterSet clusters)
    {
        var name = context.Request.Query["cluster"].ToString();
        return string.IsNullOrEmpty(name) ? clusters.Fallback : clusters.Clusters.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));
    }

    private static IResult UnknownCluster(HttpContext context, RoutingSdk.Tenants.ClusterSet clusters) =>
        Results.Problem(
            clusters.IsMulti
                ? $"There is no cluster '{context.Request.Query["cluster"]}'. Use one of: {string.Join(", ", clusters.Clusters.Select(c => c.Name).Order(StringComparer.OrdinalIgnoreCase))}."
                : "One cluster is configured: leave out ?cluster=.",
            statusCode: StatusCodes.Status404NotFound);

    private static void Validate(QueryRoutingDashboardOptions options, IServiceProvider services)
    {
        if (options.ViewPolicy is null && !options.AllowAnonymousReadOnly)
        {
            throw new InvalidOperationException(
                "The RoutingSdk operations page shows where your load goes and can move it: it needs an authorization policy. " +
                "Pass one: app.MapQueryRoutingDashboard(\"/routing\", o => { o.ViewPolicy = \"RoutingOperators\"; o.SwitchPolicy = \"RoutingAdmins\"; }) " +
                "with services.AddAuthorization(o => o.AddPolicy(\"RoutingOperators\", ...)). For a developer machine only, o.AllowAnonymousReadOnly = true shows it read-only to anyone.");
        }

        foreach (var (name, what) in new[] { (options.ViewPolicy, nameof(options.ViewPolicy)), (options.SwitchPolicy, nameof(options.SwitchPolicy)) })
        {
            if (name is null)
            {
                continue;
            }

            var provider = services.GetService<IAuthorizationPolicyProvider>()
                ?? throw new InvalidOperationException($"{what} '{name}' needs ASP.NET Core authorization: call services.AddAuthorization(o => o.AddPolicy(\"{name}\", ...)).");
            if (provider.GetPolicyAsync(name).GetAwaiter().GetResult() is null)
            {
                throw new InvalidOperationException($"{what} '{name}' is not a defined authorization policy. Define it: services.AddAuthorization(o => o.AddPolicy(\"{name}\", p => ...)).");
            }
        }

        if (options.SwitchPolicy is not null && services.GetService<IAntiforgery>() is null)
        {
            throw new InvalidOperationException("The runtime switches are protected by antiforgery tokens: call services.AddAntiforgery() (or leave SwitchPolicy unset for a read-only page).");
        }
    }

    private static void Secure(HttpResponse response)
    {
        // Self-contained: the page may load nothing from anywhere, not even from this host, beyond its own fetches.
        response.Headers.ContentSecurityPolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; frame-ancestors 'none'; form-action 'none'";
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
    }

    private sealed record SwitchRequest(string? Category, string? Scenario, bool ToPrimary);

    private static async Task<IResult> SwitchAsync(
        HttpContext context, RoutingSdk.Tenants.RoutingCluster cluster, RoutingSdk.Tenants.ClusterSet clusters, RoutingActivityCollector collector, QueryRoutingDashboardOptions options)
    {
        var router = cluster.Router;
        // Checked here as well as by the endpoint's metadata: a convention added to the returned group later (an
        // AllowAnonymous() meant for the page) must not open the switches.
        var authorization = context.RequestServices.GetRequiredService<IAuthorizationService>();
        if (!(await authorization.AuthorizeAsync(context.User, options.SwitchPolicy!)).Succeeded
            || (options.ViewPolicy is { } view && !(await authorization.AuthorizeAsync(context.User, view)).Succeeded))
        {
            var anonymous = context.User.Identity?.IsAuthenticated != true;
            return Results.Problem(
                $"Changing a routing switch requires the '{options.SwitchPolicy}' authorization policy{(anonymous ? "; sign in first" : "")}.",
                statusCode: anonymous ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden);
        }

        try
        {
            await context.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(context);
        }
        catch (AntiforgeryValidationException)
        {
            return Results.Problem("The switch request carried no valid antiforgery token: flip switches from the operations page itself.", statusCode: StatusCodes.Status400BadRequest);
        }

        SwitchRequest? request;
        try
        {
            request = await context.Request.ReadFromJsonAsync<SwitchRequest>(context.RequestAborted);
        }
        catch (JsonException)
        {
            request = null;
        }

        RoutingCategory? category = null;
        if (request is null || (request.Category is null) == (request.Scenario is null))
        {
            return Results.Problem("Send JSON {\"category\": \"Report\", \"toPrimary\": true} or {\"scenario\": \"SalesReport.Build\", \"toPrimary\": true}: exactly one of category and scenario.", statusCode: 400);
        }

        if (request.Category is not null)
        {
            if (!Enum.TryParse<RoutingCategory>(request.Category, ignoreCase: false, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(request.Category, out _))
            {
                return Results.Problem($"Unknown category '{request.Category}'. Use one of: {string.Join(", ", Enum.GetNames<RoutingCategory>())}.", statusCode: 400);
            }

            category = parsed;
        }
        else if (string.IsNullOrWhiteSpace(request.Scenario) || request.Scenario.Length > 200)
        {
            return Results.Problem("The scenario must be a non-empty name of at most 200 characters, e.g. SalesReport.Build.", statusCode: 400);
        }

        if (!router.SetRuntimeSwitch(category, category is null ? request.Scenario : null, request.ToPrimary))
        {
            return Results.Problem("RoutingSdk could not apply the switch: its current configuration is not valid (see the application log).", statusCode: StatusCodes.Status409Conflict);
        }

        if (options.SwitchChanged is { } changed)
        {
            await changed(new RoutingSwitchChange(category, category is null ? request.Scenario : null, request.ToPrimary, context.User.Identity?.Name) { Cluster = cluster.Name }, context.RequestAborted);
        }

        return Results.Text(DashboardStatus.Build(cluster, clusters, collector, switchesEnabled: true), "application/json");
    }
}
