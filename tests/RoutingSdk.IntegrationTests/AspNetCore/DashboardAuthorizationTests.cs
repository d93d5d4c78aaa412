using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoutingSdk.AspNetCore;
using RoutingSdk.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Routing;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.AspNetCore;

/// <summary>
/// Who may flip a switch, for every combination of the page's options, on a real Kestrel host: an anonymous caller
/// and a viewer without the switch policy never can, even with a valid antiforgery token taken from another form of
/// the same application; the admin can (so the test can tell "refused" from "never worked").
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DashboardAuthorizationTests(ClusterFixture fixture)
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public static TheoryData<string?, bool, string?> Combinations()
    {
        var data = new TheoryData<string?, bool, string?>();
        foreach (var view in new[] { null, "ops-view" })
        {
            foreach (var anonymousReadOnly in new[] { false, true })
            {
                foreach (var switchPolicy in new[] { null, "ops-switch" })
                {
                    data.Add(view, anonymousReadOnly, switchPolicy);
                }
            }
        }

        return data;
    }

    private async Task<WebApplication> StartAsync(Action<QueryRoutingDashboardOptions> configure, bool withDb = false, Action<IEndpointConventionBuilder>? group = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddQueryRouting(o => EfSchema.Pools(o, _cluster));
        if (withDb)
        {
            builder.Services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        }

        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.Events.OnRedirectToLogin = c => { c.Response.StatusCode = StatusCodes.Status401Unauthorized; return Task.CompletedTask; };
            o.Events.OnRedirectToAccessDenied = c => { c.Response.StatusCode = StatusCodes.Status403Forbidden; return Task.CompletedTask; };
        });
        builder.Services.AddAuthorization(o =>
        {
            o.AddPolicy("ops-view", p => p.RequireAuthenticatedUser());
            o.AddPolicy("ops-switch", p => p.RequireClaim(ClaimTypes.Role, "admin"));
        });
        builder.Services.AddAntiforgery();
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/login", async (HttpContext c, string role) =>
        {
            var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, role), new Claim(ClaimTypes.Role, role)], CookieAuthenticationDefaults.AuthenticationScheme);
            await c.SignInAsync(new ClaimsPrincipal(identity));
            return Results.Text("signed in");
        });

        // Another form of the application, open to anyone: it hands out antiforgery tokens for whoever asks.
        app.MapGet("/contact-form", (HttpContext c, IAntiforgery antiforgery) => Results.Text(antiforgery.GetAndStoreTokens(c).RequestToken!)).AllowAnonymous();
        var dashboard = app.MapQueryRoutingDashboard("/routing", configure);
        group?.Invoke(dashboard);
        await app.StartAsync();
        return app;
    }

    private static HttpClient Client(WebApplication app) =>
        new(new HttpClientHandler { UseCookies = true, CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()),
        };

    private static async Task<HttpStatusCode> TrySwitchAsync(HttpClient client)
    {
        var token = await client.GetStringAsync("/contact-form");
        using var post = new HttpRequestMessage(HttpMethod.Post, "/routing/switches") { Content = JsonContent.Create(new { category = "Report", toPrimary = true }) };
        post.Headers.Add("RequestVerificationToken", token);
        return (await client.SendAsync(post)).StatusCode;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public async Task Only_the_switch_policy_changes_a_switch(string? viewPolicy, bool anonymousReadOnly, string? switchPolicy)
    {
        void Configure(QueryRoutingDashboardOptions o)
        {
            o.ViewPolicy = viewPolicy;
            o.AllowAnonymousReadOnly = anonymousReadOnly;
            o.SwitchPolicy = switchPolicy;
        }

        if (viewPolicy is null && !anonymousReadOnly)
        {
            // No way to say who may look: refused at start, with the fix in the message.
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(Configure));
            Assert.Contains("ViewPolicy", error.Message);
            return;
        }

        await using var app = await StartAsync(Configure);
        var router = app.Services.GetRequiredService<QueryRouter>();

        using var anonymous = Client(app);
        Assert.False((await TrySwitchAsync(anonymous)) is >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices, "an anonymous caller changed a switch");
        using var viewer = Client(app);
        (await viewer.GetAsync("/login?role=viewer")).EnsureSuccessStatusCode();
        Assert.False((await TrySwitchAsync(viewer)) is >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices, "a viewer without the switch policy changed a switch");
        Assert.Empty(router.PrimaryCategories);

        // The page itself: anonymous only where the read-only opt-in and no view policy say so.
        var anonymousPage = (await anonymous.GetAsync("/routing")).StatusCode;
        Assert.Equal(viewPolicy is null ? HttpStatusCode.OK : HttpStatusCode.Unauthorized, anonymousPage);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("/routing/status")).StatusCode);

        using var admin = Client(app);
        (await admin.GetAsync("/login?role=admin")).EnsureSuccessStatusCode();
        var adminResult = await TrySwitchAsync(admin);
        if (switchPolicy is null)
        {
            Assert.Equal(HttpStatusCode.NotFound, adminResult == HttpStatusCode.MethodNotAllowed ? HttpStatusCode.NotFound : adminResult);
            Assert.Empty(router.PrimaryCategories);
        }
        else
        {
            Assert.Equal(HttpStatusCode.OK, adminResult);
            Assert.Contains(RoutingCategory.Report, router.PrimaryCategories);
        }
    }

    [Fact]
    public async Task An_AllowAnonymous_added_to_the_returned_group_does_not_open_the_switches()
    {
        // What a user might do to open the page to a monitoring probe: AllowAnonymous on the group the call returns.
        await using var app = await StartAsync(o => { o.ViewPolicy = "ops-view"; o.SwitchPolicy = "ops-switch"; }, group: g => g.AllowAnonymous());
        using var anonymous = Client(app);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/routing")).StatusCode); // the convention took effect
        using var viewer = Client(app);
        (await viewer.GetAsync("/login?role=viewer")).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Forbidden, await TrySwitchAsync(viewer));
        Assert.False((await TrySwitchAsync(anonymous)) is >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices);
        Assert.Empty(app.Services.GetRequiredService<QueryRouter>().PrimaryCategories);
    }

    [Fact]
    public async Task The_page_counts_writes_made_under_MasterOnly()
    {
        await EfSchema.EnsureAsync(_cluster);
        await using var app = await StartAsync(o => o.AllowAnonymousReadOnly = true, withDb: true);
        using var client = Client(app);
        long Writes(JsonDocument status) => status.RootElement.GetProperty("reads").GetProperty("writes").GetInt64();
        using var before = JsonDocument.Parse(await client.GetStringAsync("/routing/status"));

        // What the sample's OrderEntry does: under [MasterOnly], a transaction with two SaveChanges.
        await using (var scope = app.Services.CreateAsyncScope())
        using (RoutingScope.Begin(RouteKind.MasterOnly, "OrderEntry.Create", RoutingCategory.Interface))
        {
            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            await using var tx = await db.Database.BeginTransactionAsync();
            db.Customers.Add(new Customer { Name = $"dash-{Guid.NewGuid():N}" });
            await db.SaveChangesAsync();
            db.Customers.Add(new Customer { Name = $"dash-{Guid.NewGuid():N}" });
            await db.SaveChangesAsync();
            await tx.CommitAsync();
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        long writes;
        do
        {
            using var after = JsonDocument.Parse(await client.GetStringAsync("/routing/status"));
            writes = Writes(after) - Writes(before);
            if (writes > 0)
            {
                break;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);

        Assert.True(writes >= 1, $"the page counted {writes} writes for a MasterOnly transaction that saved twice");
    }
}
