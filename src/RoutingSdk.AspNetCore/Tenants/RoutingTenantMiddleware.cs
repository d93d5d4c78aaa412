using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace RoutingSdk.AspNetCore.Tenants;

/// <summary>
/// Runs the rest of the pipeline inside <see cref="TenantScope.Begin"/> of the request's tenant, or without a tenant
/// scope, or answers 400, as <see cref="RoutingTenantResolutionOptions.WhenMissing"/> says.
/// </summary>
internal sealed partial class RoutingTenantMiddleware
{
    private readonly RequestDelegate next;
    private readonly RoutingTenantResolver resolver;
    private readonly MissingTenantAction whenMissing;
    private readonly bool watchRouting;
    private readonly ILogger logger;
    private int routingAfterLogged;

    /// <param name="next">The rest of the pipeline.</param>
    /// <param name="resolver">Finds the tenant.</param>
    /// <param name="whenMissing">What a request without a tenant gets.</param>
    /// <param name="watchRouting">
    /// A route value is read and whether endpoint routing runs before this middleware could not be seen at start:
    /// a request that gets its endpoint only after this middleware (routing after it) is logged as an error, once.
    /// </param>
    /// <param name="logger">The tenant middleware's log.</param>
    internal RoutingTenantMiddleware(RequestDelegate next, RoutingTenantResolver resolver, MissingTenantAction whenMissing, bool watchRouting, ILogger logger)
    {
        this.next = next;
        this.resolver = resolver;
        this.whenMissing = whenMissing;
        this.watchRouting = watchRouting;
        this.logger = logger;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var resolution = resolver.Resolve(context);
        return watchRouting && context.GetEndpoint() is null ? WatchRoutingAsync(context, resolution) : RunAsync(context, resolution);
    }

    private async Task WatchRoutingAsync(HttpContext context, TenantResolution resolution)
    {
        await RunAsync(context, resolution).ConfigureAwait(false);
        if (context.GetEndpoint() is { } endpoint && Interlocked.Exchange(ref routingAfterLogged, 1) == 0)
        {
            LogRoutingAfter(logger, resolver.RouteValue!, endpoint.DisplayName);
        }
    }

    private Task RunAsync(HttpContext context, TenantResolution resolution)
    {
        if (resolution.Tenant is { } tenant)
        {
            return RunInScopeAsync(context, tenant);
        }

        if (whenMissing == MissingTenantAction.Reject)
        {
            var detail = Detail(context, resolution);
            LogRejected(logger, context.Request.Method, context.Request.Path, detail);
            return Results.Problem(detail: detail, statusCode: StatusCodes.Status400BadRequest, title: "The request's tenant is missing").ExecuteAsync(context);
        }

        if (logger.IsEnabled(LogLevel.Debug))
        {
            LogContinued(logger, context.Request.Method, context.Request.Path, Detail(context, resolution));
        }

        return next(context);
    }

    // Async so that the scope set here belongs to this request's flow only and is gone, disposed, when it ends.
    private async Task RunInScopeAsync(HttpContext context, string tenant)
    {
        using (TenantScope.Begin(tenant))
        {
            await next(context).ConfigureAwait(false);
        }
    }

    private string Detail(HttpContext context, TenantResolution resolution)
    {
        var detail = $"This request needs a tenant, expected from {resolver.Expected}.";
        if (resolution.Notes.Count > 0)
        {
            detail += " " + string.Join(" ", resolution.Notes);
        }

        if (watchRouting && context.GetEndpoint() is null)
        {
            detail += $" No endpoint was matched before the tenant was looked for: the route value '{resolver.RouteValue}' exists only after app.UseRouting().";
        }

        return detail;
    }

    [LoggerMessage(1, LogLevel.Debug, "{Method} {Path} rejected with 400: {Detail}", EventName = "TenantMissingRejected")]
    private static partial void LogRejected(ILogger logger, string method, PathString path, string detail);

    [LoggerMessage(3, LogLevel.Error,
        "UseRoutingTenant reads the route value '{RouteValue}', but endpoint routing ran after it (the request got its endpoint '{Endpoint}' only afterwards), " +
        "so the route value was not there when the tenant was looked for: call app.UseRouting() before app.UseRoutingTenant(...). Logged once.",
        EventName = "TenantRoutingAfterMiddleware")]
    private static partial void LogRoutingAfter(ILogger logger, string routeValue, string? endpoint);

    [LoggerMessage(2, LogLevel.Debug, "{Method} {Path} runs without a tenant: {Detail}", EventName = "TenantMissingContinued")]
    private static partial void LogContinued(ILogger logger, string method, PathString path, string detail);
}
