using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RoutingSdk.AspNetCore;

namespace RoutingSdk.Tests.AspNetCore.Tenants;

/// <summary>
/// <c>app.UseRoutingTenant(...)</c> on an in-memory ASP.NET Core host: each source, their precedence, what a request
/// without a usable tenant gets, that the endpoint runs in the tenant's scope across awaits and that the scope ends
/// with the request, and the mistakes refused at registration or at start.
/// </summary>
public sealed class RoutingTenantMiddlewareTests
{
    private const string None = "(none)";

    /// <summary>A WebApplication on the test server; <paramref name="pipeline"/> adds the middleware (and whatever goes around it).</summary>
    private static async Task<WebApplication> StartAsync(Action<WebApplication> pipeline, bool authentication = false, ListLogger? log = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        if (log is not null)
        {
            builder.Logging.AddProvider(log);
        }

        if (authentication)
        {
            builder.Services.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
        }

        var app = builder.Build();
        pipeline(app);
        MapEndpoints(app);
        await app.StartAsync();
        return app;
    }

    private static Task<WebApplication> StartAsync(Action<RoutingTenantResolutionOptions> configure, bool authentication = false) =>
        StartAsync(app => app.UseRoutingTenant(configure), authentication);

    /// <summary>Each endpoint answers the tenant it sees before and after real awaits: "before|after".</summary>
    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/tenant", Observe);
        app.MapGet("/t/{tenant}/invoices", Observe);
        app.MapGet("/org/{org}/tenant", Observe);
    }

    private static async Task<string> Observe()
    {
        var before = TenantScope.CurrentTenant ?? None;
        await Task.Yield();
        await Task.Delay(5);
        return before + "|" + (TenantScope.CurrentTenant ?? None);
    }

    private static async Task<HttpResponseMessage> SendAsync(WebApplication app, string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await app.GetTestClient().SendAsync(request);
    }

    private static async Task<string> TenantSeenAsync(WebApplication app, string path, params (string Name, string Value)[] headers)
    {
        using var response = await SendAsync(app, path, headers);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task The_header_is_the_tenant_of_the_endpoint_across_awaits_and_is_trimmed()
    {
        await using var app = await StartAsync(o => o.Header = "X-Tenant");

        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant", ("X-Tenant", "acme")));
        Assert.Equal("globex|globex", await TenantSeenAsync(app, "/tenant", ("X-Tenant", "  globex\t")));
        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant", ("x-tenant", "acme"))); // header names ignore case
    }

    [Fact]
    public async Task Concurrent_requests_each_see_their_own_tenant()
    {
        await using var app = await StartAsync(o => o.Header = "X-Tenant");

        var seen = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => TenantSeenAsync(app, "/tenant", ("X-Tenant", $"t{i}"))));

        Assert.Equal(Enumerable.Range(0, 32).Select(i => $"t{i}|t{i}"), seen);
    }

    [Fact]
    public async Task The_claim_of_the_signed_in_user_is_the_tenant()
    {
        // No UseAuthentication() call: a WebApplication with authentication services runs it first by itself.
        await using var app = await StartAsync(o => o.Claim = "tenant_id", authentication: true);

        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant", (HeaderAuthenticationHandler.ClaimsHeader, "tenant_id=acme")));
        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant", (HeaderAuthenticationHandler.ClaimsHeader, "tenant_id=acme;tenant_id=acme;role=x")));
        Assert.Equal(None + "|" + None, await TenantSeenAsync(app, "/tenant")); // anonymous
        Assert.Equal(None + "|" + None, await TenantSeenAsync(app, "/tenant", (HeaderAuthenticationHandler.ClaimsHeader, "role=x")));
    }

    [Fact]
    public async Task A_claim_of_an_unauthenticated_identity_does_not_count()
    {
        await using var app = await StartAsync(app =>
        {
            app.Use((context, next) =>
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim("tenant_id", "acme")])); // no authentication type
                return next(context);
            });
            app.UseRoutingTenant(o => o.Claim = "tenant_id");
        });

        Assert.Equal(None + "|" + None, await TenantSeenAsync(app, "/tenant"));
    }

    [Fact]
    public async Task The_route_value_is_the_tenant_with_implicit_or_explicit_routing_before()
    {
        await using var implicitRouting = await StartAsync(o => o.RouteValue = "tenant");
        Assert.Equal("acme|acme", await TenantSeenAsync(implicitRouting, "/t/acme/invoices"));
        Assert.Equal(None + "|" + None, await TenantSeenAsync(implicitRouting, "/tenant")); // an endpoint without the parameter

        await using var explicitRouting = await StartAsync(app =>
        {
            app.UseRouting();
            app.UseRoutingTenant(o => o.RouteValue = "tenant");
        });
        Assert.Equal("globex|globex", await TenantSeenAsync(explicitRouting, "/t/globex/invoices"));
    }

    [Fact]
    public async Task A_route_value_with_routing_after_the_middleware_fails_at_start_naming_the_fix()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(app =>
        {
            app.UseRoutingTenant(o => o.RouteValue = "tenant");
            app.UseRouting();
        }));
        Assert.Contains("route value 'tenant'", ex.Message);
        Assert.Contains("call app.UseRouting() before app.UseRoutingTenant(...)", ex.Message);
    }

    [Fact]
    public async Task A_route_value_without_endpoint_routing_is_never_found_and_the_400_says_why()
    {
        static IHost Plain(Action<RoutingTenantResolutionOptions> configure) => new HostBuilder()
            .ConfigureWebHost(web => web.UseTestServer()
                .ConfigureLogging(l => l.ClearProviders())
                .Configure(app =>
                {
                    app.UseRoutingTenant(configure);
                    app.Run(async context => await context.Response.WriteAsync(TenantScope.CurrentTenant ?? None));
                }))
            .Build();

        // No routing can be seen at start (it might run around a branch): the request says it.
        using var routeValue = Plain(o =>
        {
            o.RouteValue = "tenant";
            o.WhenMissing = MissingTenantAction.Reject;
        });
        await routeValue.StartAsync();
        using var rejected = await routeValue.GetTestClient().GetAsync("/t/acme/invoices");
        Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
        Assert.Contains("the route value 'tenant' exists only after app.UseRouting().", await rejected.Content.ReadAsStringAsync());
        await routeValue.StopAsync();

        // A header needs no routing.
        using var header = Plain(o => o.Header = "X-Tenant");
        await header.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("X-Tenant", "acme");
        using var response = await header.GetTestClient().SendAsync(request);
        Assert.Equal("acme", await response.Content.ReadAsStringAsync());
        await header.StopAsync();
    }

    [Fact]
    public async Task Routing_after_a_branch_that_reads_a_route_value_is_logged_once_as_an_error()
    {
        var log = new ListLogger();
        await using var app = await StartAsync(app =>
        {
            app.UseWhen(c => c.Request.Path.StartsWithSegments("/t"), branch => branch.UseRoutingTenant(o => o.RouteValue = "tenant"));
            app.UseRouting(); // too late for the branch, which cannot see it at start
        }, log: log);

        Assert.Equal(None + "|" + None, await TenantSeenAsync(app, "/t/acme/invoices"));
        Assert.Equal(None + "|" + None, await TenantSeenAsync(app, "/t/acme/invoices"));

        var error = Assert.Single(log.Entries, e => e.Level == LogLevel.Error);
        Assert.Contains("call app.UseRouting() before app.UseRoutingTenant(...)", error.Message);
        Assert.Contains("'tenant'", error.Message);
    }

    [Fact]
    public async Task A_route_value_inside_UseWhen_sees_the_routing_of_the_application()
    {
        await using var app = await StartAsync(app =>
            app.UseWhen(c => c.Request.Path.StartsWithSegments("/t"), branch => branch.UseRoutingTenant(o =>
            {
                o.RouteValue = "tenant";
                o.WhenMissing = MissingTenantAction.Reject;
            })));

        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/t/acme/invoices"));
        Assert.Equal(None + "|" + None, await TenantSeenAsync(app, "/tenant")); // outside the branch: never rejected
    }

    [Fact]
    public async Task The_custom_resolver_wins_and_falls_through_when_it_finds_none()
    {
        await using var app = await StartAsync(o =>
        {
            o.Resolve = c => c.Request.Host.Host.EndsWith(".example.com", StringComparison.Ordinal) ? c.Request.Host.Host.Split('.')[0] : null;
            o.Header = "X-Tenant";
        });

        Assert.Equal("acme|acme", await TenantSeenAsync(app, "http://acme.example.com/tenant", ("X-Tenant", "globex")));
        Assert.Equal("globex|globex", await TenantSeenAsync(app, "http://localhost/tenant", ("X-Tenant", "globex")));
    }

    [Theory]
    [InlineData("resolver", "claim", "route", "header", "resolver")]
    [InlineData(null, "claim", "route", "header", "claim")]
    [InlineData(null, null, "route", "header", "route")]
    [InlineData(null, null, null, "header", "header")]
    [InlineData("  ", "claim", "route", "header", "claim")] // a blank value is no value: the next source is tried
    [InlineData(null, null, null, null, None)]
    public async Task Precedence_is_resolver_then_claim_then_route_value_then_header(
        string? resolved, string? claim, string? route, string? header, string expected)
    {
        await using var app = await StartAsync(o =>
        {
            o.Resolve = c => c.Request.Query["resolve"].FirstOrDefault() is { } v ? v : null;
            o.Claim = "tenant_id";
            o.RouteValue = "org";
            o.Header = "X-Tenant";
        }, authentication: true);

        var path = (route is null ? "/tenant" : $"/org/{route}/tenant") + (resolved is null ? "" : $"?resolve={Uri.EscapeDataString(resolved)}");
        var headers = new List<(string, string)>();
        if (claim is not null)
        {
            headers.Add((HeaderAuthenticationHandler.ClaimsHeader, $"tenant_id={claim}"));
        }

        if (header is not null)
        {
            headers.Add(("X-Tenant", header));
        }

        Assert.Equal(expected + "|" + expected, await TenantSeenAsync(app, path, [.. headers]));
    }

    [Fact]
    public async Task Missing_with_Continue_runs_the_request_without_a_tenant()
    {
        await using var app = await StartAsync(o => o.Header = "X-Tenant"); // Continue is the default

        Assert.Equal(None + "|" + None, await TenantSeenAsync(app, "/tenant"));
    }

    [Fact]
    public async Task Missing_with_Reject_answers_400_naming_where_the_tenant_is_expected()
    {
        var endpointRan = false;
        await using var app = await StartAsync(app =>
        {
            app.UseRoutingTenant(o =>
            {
                o.Claim = "tenant_id";
                o.Header = "X-Tenant";
                o.WhenMissing = MissingTenantAction.Reject;
            });
            app.MapGet("/ran", () => endpointRan = true);
        }, authentication: true);

        using var response = await SendAsync(app, "/ran");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Equal("This request needs a tenant, expected from the 'tenant_id' claim of the signed-in user or the 'X-Tenant' header.",
            problem.GetProperty("detail").GetString());
        Assert.False(endpointRan);

        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant", ("X-Tenant", "acme")));
    }

    [Fact]
    public async Task A_blank_value_is_missing_400_under_Reject_and_no_tenant_under_Continue()
    {
        await using var reject = await StartAsync(o =>
        {
            o.Header = "X-Tenant";
            o.WhenMissing = MissingTenantAction.Reject;
        });
        using var response = await SendAsync(reject, "/tenant", ("X-Tenant", "   "));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("The 'X-Tenant' header is blank.", await response.Content.ReadAsStringAsync());

        await using var resume = await StartAsync(o => o.Header = "X-Tenant");
        Assert.Equal(None + "|" + None, await TenantSeenAsync(resume, "/tenant", ("X-Tenant", "   ")));
    }

    [Fact]
    public async Task Several_different_values_are_no_tenant_and_are_named_under_Reject()
    {
        await using var app = await StartAsync(o =>
        {
            o.Claim = "tenant_id";
            o.Header = "X-Tenant";
            o.WhenMissing = MissingTenantAction.Reject;
        }, authentication: true);

        using var twoLines = await SendAsync(app, "/tenant", ("X-Tenant", "acme"), ("X-Tenant", "globex"));
        Assert.Equal(HttpStatusCode.BadRequest, twoLines.StatusCode);
        Assert.Contains("The 'X-Tenant' header has several different values.", await twoLines.Content.ReadAsStringAsync());

        using var joined = await SendAsync(app, "/tenant", ("X-Tenant", "acme, globex"));
        Assert.Equal(HttpStatusCode.BadRequest, joined.StatusCode);

        using var twoClaims = await SendAsync(app, "/tenant", (HeaderAuthenticationHandler.ClaimsHeader, "tenant_id=acme;tenant_id=globex"));
        Assert.Equal(HttpStatusCode.BadRequest, twoClaims.StatusCode);
        Assert.Contains("The signed-in user has several different 'tenant_id' claims.", await twoClaims.Content.ReadAsStringAsync());

        // The same value twice is one tenant; a user in several tenants may pick one with the next source.
        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant", ("X-Tenant", "acme"), ("X-Tenant", " acme")));
        Assert.Equal("globex|globex", await TenantSeenAsync(app, "/tenant",
            (HeaderAuthenticationHandler.ClaimsHeader, "tenant_id=acme;tenant_id=globex"), ("X-Tenant", "globex")));
    }

    [Fact]
    public async Task The_scope_ends_with_the_request_and_an_outer_scope_is_restored()
    {
        var after = new List<string>();
        await using var app = await StartAsync(app =>
        {
            app.Use(async (context, next) =>
            {
                var outer = context.Request.Query.ContainsKey("outer") ? TenantScope.Begin("outer") : null;
                try
                {
                    await next(context);
                    lock (after)
                    {
                        after.Add(TenantScope.CurrentTenant ?? None);
                    }
                }
                finally
                {
                    outer?.Dispose();
                }
            });
            app.UseRoutingTenant(o => o.Header = "X-Tenant");
        });

        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant", ("X-Tenant", "acme")));
        Assert.Equal("acme|acme", await TenantSeenAsync(app, "/tenant?outer=1", ("X-Tenant", "acme")));
        Assert.Equal("outer|outer", await TenantSeenAsync(app, "/tenant?outer=1")); // no header: the outer scope stays in force

        Assert.Equal(new[] { None, "outer", "outer" }, after);
    }

    [Fact]
    public async Task Options_without_a_source_or_with_a_bad_name_are_refused_at_registration_naming_the_fix()
    {
        await using var app = WebApplication.CreateSlimBuilder().Build();

        ArgumentException Refused(Action<RoutingTenantResolutionOptions> configure)
        {
            var ex = Assert.ThrowsAny<ArgumentException>(() => app.UseRoutingTenant(configure));
            Assert.Equal("configure", ex.ParamName);
            return ex;
        }

        Assert.Throws<ArgumentNullException>(() => app.UseRoutingTenant(null!));
        var none = Refused(_ => { });
        Assert.Contains("no way to find a request's tenant", none.Message);
        Assert.Contains("o.Header (e.g. \"X-Tenant\")", none.Message);
        Assert.Contains("o.Claim", none.Message);
        Assert.Contains("o.RouteValue", none.Message);
        Assert.Contains("o.Resolve", none.Message);

        Assert.Contains("give the name alone, e.g. \"X-Tenant\"", Refused(o => o.Header = "").Message);
        Assert.Contains("give the name alone", Refused(o => o.Header = "  ").Message);
        Assert.Contains("give the name alone", Refused(o => o.Header = "X-Tenant: acme").Message);
        Assert.Contains("give the name alone", Refused(o => o.Header = "X Tenant").Message);
        Assert.Contains("o.Claim '' is blank", Refused(o => o.Claim = "").Message);
        Assert.Contains("has spaces around it", Refused(o => o.Claim = " tenant_id").Message);
        Assert.Contains("o.RouteValue ' ' is blank", Refused(o => o.RouteValue = " ").Message);
        Assert.Contains("without them, e.g. \"tenant\"", Refused(o => o.RouteValue = "{tenant}").Message);
        Assert.Contains("MissingTenantAction.Reject", Refused(o => { o.Header = "X-Tenant"; o.WhenMissing = (MissingTenantAction)7; }).Message);
    }

    /// <summary>Keeps what is logged.</summary>
    private sealed class ListLogger : ILoggerProvider, ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => this;

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries)
            {
                Entries.Add((logLevel, formatter(state, exception)));
            }
        }
    }

    /// <summary>Signs in from a test header: <c>Test-Claims: tenant_id=acme;role=x</c>; no header = anonymous.</summary>
    private sealed class HeaderAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "TestHeader";
        public const string ClaimsHeader = "Test-Claims";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (Request.Headers[ClaimsHeader].FirstOrDefault() is not { } text)
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var claims = text.Split(';').Select(pair => pair.Split('=', 2)).Select(kv => new Claim(kv[0], kv[1]));
            var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
        }
    }
}
