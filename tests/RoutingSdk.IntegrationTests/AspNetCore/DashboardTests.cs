using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Routing;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.AspNetCore;

/// <summary>
/// The operations page on a real Kestrel host, driven by a real headless Chromium, over the local cluster: live
/// figures from a running report workload, a switch clicked in the browser moving the next report reads to the
/// primary (proven by cluster_name) and back, and the page's protections.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed partial class DashboardTests(ClusterFixture fixture) : IAsyncLifetime
{
    private const string KnownPassword = "KnownSecret-4711-dashboard";
    private readonly LocalPgCluster _cluster = fixture.Cluster;
    private WebApplication _app = null!;
    private string _url = null!;

    public async Task InitializeAsync()
    {
        // A login of its own with a known password, so the "no password on the page" checks mean something.
        await using (var admin = new NpgsqlConnection(_cluster.PrimaryConnectionString))
        {
            await admin.OpenAsync();
            await using var cmd = new NpgsqlCommand($"""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dashboard_app') THEN CREATE ROLE dashboard_app LOGIN PASSWORD '{KnownPassword}'; END IF;
                END $$;
                GRANT pg_monitor TO dashboard_app; -- RoutingSdk's health checks read pg_stat_replication's sync_state
                """, admin);
            await cmd.ExecuteNonQueryAsync();
        }

        // async1 replays with a delay: on a fresh cluster the login reaches it seconds later (else its pool starts evicted).
        await using (var async1 = new NpgsqlConnection(_cluster.Async1ConnectionString))
        {
            await async1.OpenAsync();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            await using var check = new NpgsqlCommand("SELECT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = 'dashboard_app' AND pg_has_role(r.oid, 'pg_monitor', 'MEMBER'))", async1);
            while (!(bool)(await check.ExecuteScalarAsync())!)
            {
                Assert.True(DateTime.UtcNow < deadline, "async1 did not replay the dashboard_app login within 30 s");
                await Task.Delay(200);
            }
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        string WithPassword(string cs) => new NpgsqlConnectionStringBuilder(cs) { Username = "dashboard_app", Password = KnownPassword }.ConnectionString;
        builder.Services.AddQueryRouting(o =>
        {
            o.Pools.Add(new RoutingPoolOptions { Name = "primary", Role = PoolRole.Primary, ConnectionString = WithPassword(_cluster.PrimaryConnectionString) });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync1", Role = PoolRole.SyncReplica, ConnectionString = WithPassword(_cluster.Sync1ConnectionString) });
            o.Pools.Add(new RoutingPoolOptions { Name = "sync2", Role = PoolRole.SyncReplica, ConnectionString = WithPassword(_cluster.Sync2ConnectionString) });
            o.Pools.Add(new RoutingPoolOptions { Name = "async1", Role = PoolRole.AsyncReplica, ConnectionString = WithPassword(_cluster.Async1ConnectionString) });
            o.Health.Interval = TimeSpan.FromSeconds(1);
        });
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
        _app = builder.Build();
        _app.UseAuthentication();
        _app.UseAuthorization();
        _app.MapGet("/login", async (HttpContext c, string role) =>
        {
            var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "tester"), new Claim(ClaimTypes.Role, role)], CookieAuthenticationDefaults.AuthenticationScheme);
            await c.SignInAsync(new ClaimsPrincipal(identity));
            return Results.Text("signed in");
        });
        _app.MapQueryRoutingDashboard("/routing", o =>
        {
            o.ViewPolicy = "ops-view";
            o.SwitchPolicy = "ops-switch";
        });
        await _app.StartAsync();
        _url = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private RoutingDataSource Data => _app.Services.GetRequiredService<RoutingDataSource>();

    private async Task<string> NodeAsync(RoutingCategory category, string scenario)
    {
        using var scope = RoutingScope.Begin(RouteKind.ReadReplica, scenario, category);
        return await Data.ReadAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand("SELECT current_setting('cluster_name')", c);
            return (string)(await cmd.ExecuteScalarAsync(ct))!;
        });
    }

    private HttpClient Client(bool cookies = true) =>
        new(new HttpClientHandler { UseCookies = cookies, CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = new Uri(_url) };

    [Fact]
    public async Task Browser_sees_live_routing_and_a_clicked_switch_moves_report_reads_to_the_primary_and_back()
    {
        if (HeadlessChromium.FindExecutable() is null)
        {
            throw new InvalidOperationException("Chromium is missing: run the tests through scripts/test.sh, which installs Debian's 'chromium' package.");
        }

        // A report workload keeps running while the page is open.
        using var stop = new CancellationTokenSource();
        var workload = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await NodeAsync(RoutingCategory.Report, "SalesReport.Build");
                await Task.Delay(20);
            }
        });

        await using var browser = await HeadlessChromium.StartAsync();
        await browser.NavigateAsync($"{_url}/login?role=admin");
        await browser.WaitForAsync("document.body && document.body.innerText.includes('signed in')", TimeSpan.FromSeconds(20));
        await browser.NavigateAsync($"{_url}/routing");

        // Pools rendered, the chart has live points, reads went off the primary.
        await browser.WaitForAsync("document.querySelectorAll('#pools tbody tr').length === 4", TimeSpan.FromSeconds(20));
        await browser.WaitForAsync("Number(document.querySelector('#reads-chart')?.getAttribute('data-points')) > 1", TimeSpan.FromSeconds(20));
        var share = await browser.WaitForAsync("Number(document.querySelector('#share').getAttribute('data-share'))", TimeSpan.FromSeconds(20));
        Assert.True((double)share! > 90, $"reads off the primary: {share}%");
        var pools = (await browser.EvaluateAsync("[...document.querySelectorAll('#pools tbody tr')].map(r => r.dataset.pool + ':' + r.dataset.available).join(',')"))!.ToString();
        Assert.Equal("primary:true,sync1:true,sync2:true,async1:true", pools);
        // The rate is taken over the collector's window, which starts with the page: wait for it to pass one read per
        // second (the workload reads about fifty times a second) rather than take its first non-zero value.
        await browser.WaitForAsync(
            "(Number(document.querySelector('#pools tr[data-pool=sync1] [data-reads-per-second]').dataset.readsPerSecond) + Number(document.querySelector('#pools tr[data-pool=sync2] [data-reads-per-second]').dataset.readsPerSecond)) > 1",
            TimeSpan.FromSeconds(20)); // throws, naming the expression, if it never does
        if (Environment.GetEnvironmentVariable("ROUTING_DASHBOARD_SCREENSHOT") is { Length: > 0 } screenshotPath)
        {
            await Task.Delay(4_000); // a few more seconds of history in the chart
            await File.WriteAllBytesAsync(screenshotPath, await browser.ScreenshotAsync());
        }

        Assert.Contains(await NodeAsync(RoutingCategory.Report, "SalesReport.Build"), new[] { "sync1", "sync2" });

        // Click "Send to primary" for reports: the next report reads run on the primary; interfaces stay on the replicas.
        await browser.EvaluateAsync("document.querySelector('button[data-switch-category=Report]').click()");
        await browser.WaitForAsync("document.querySelector('#overrides tr[data-override=Report][data-source=\"runtime switch\"]') !== null", TimeSpan.FromSeconds(10));
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal("primary", await NodeAsync(RoutingCategory.Report, "SalesReport.Build"));
            Assert.Contains(await NodeAsync(RoutingCategory.Interface, "OrderForm.Load"), new[] { "sync1", "sync2" });
        }

        // The page's category-by-node table shows it: report reads now land on the primary.
        await browser.WaitForAsync("Number(document.querySelector('#matrix tr[data-category=Report] td[data-pool=primary]')?.dataset.reads) > 0", TimeSpan.FromSeconds(10));

        // "Allow replicas": back to the synchronous replicas.
        await browser.EvaluateAsync("document.querySelector('button[data-switch-category=Report]').click()");
        await browser.WaitForAsync("document.querySelector('#overrides tr[data-override=Report]') === null", TimeSpan.FromSeconds(10));
        for (var i = 0; i < 6; i++)
        {
            Assert.Contains(await NodeAsync(RoutingCategory.Report, "SalesReport.Build"), new[] { "sync1", "sync2" });
        }

        await stop.CancelAsync();
        await workload;
    }

    [Fact]
    public async Task Unauthenticated_and_unauthorized_requests_are_refused()
    {
        using var anonymous = Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/routing")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/routing/status")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("/routing/switches", new { category = "Report", toPrimary = true })).StatusCode);

        // A viewer sees the page, read-only: no antiforgery token is handed out and switching is forbidden.
        using var viewer = Client();
        (await viewer.GetAsync("/login?role=viewer")).EnsureSuccessStatusCode();
        var html = await viewer.GetStringAsync("/routing");
        Assert.Contains("name=\"routing-switches\" content=\"off\"", html);
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.PostAsJsonAsync("/routing/switches", new { category = "Report", toPrimary = true })).StatusCode);
        Assert.Empty(_app.Services.GetRequiredService<QueryRouter>().PrimaryCategories);
    }

    [Fact]
    public async Task A_switch_post_without_the_antiforgery_token_is_refused_and_changes_nothing()
    {
        using var admin = Client();
        (await admin.GetAsync("/login?role=admin")).EnsureSuccessStatusCode();
        var html = await admin.GetStringAsync("/routing"); // sets the antiforgery cookie

        // What a cross-site form or script can send: the cookies, but not the page's token.
        var forged = await admin.PostAsJsonAsync("/routing/switches", new { category = "Report", toPrimary = true });
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("antiforgery", await forged.Content.ReadAsStringAsync());
        Assert.Empty(_app.Services.GetRequiredService<QueryRouter>().PrimaryCategories);

        // With the page's token it works, and bad input gets a message naming the fix.
        var token = TokenPattern().Match(html).Groups[1].Value;
        Assert.NotEmpty(token);
        using var bad = new HttpRequestMessage(HttpMethod.Post, "/routing/switches") { Content = JsonContent.Create(new { category = "Reports", toPrimary = true }) };
        bad.Headers.Add("RequestVerificationToken", token);
        var badResponse = await admin.SendAsync(bad);
        Assert.Equal(HttpStatusCode.BadRequest, badResponse.StatusCode);
        Assert.Contains("Use one of: Other, Interface, Report, PrintForm", await badResponse.Content.ReadAsStringAsync());

        using var good = new HttpRequestMessage(HttpMethod.Post, "/routing/switches") { Content = JsonContent.Create(new { scenario = "Invoice.Print", toPrimary = true }) };
        good.Headers.Add("RequestVerificationToken", token);
        (await admin.SendAsync(good)).EnsureSuccessStatusCode();
        Assert.Equal("primary", await NodeAsync(RoutingCategory.PrintForm, "Invoice.Print"));
        Assert.Contains(await NodeAsync(RoutingCategory.PrintForm, "Waybill.Print"), new[] { "sync1", "sync2" });
        using var back = new HttpRequestMessage(HttpMethod.Post, "/routing/switches") { Content = JsonContent.Create(new { scenario = "Invoice.Print", toPrimary = false }) };
        back.Headers.Add("RequestVerificationToken", token);
        (await admin.SendAsync(back)).EnsureSuccessStatusCode();
        Assert.Contains(await NodeAsync(RoutingCategory.PrintForm, "Invoice.Print"), new[] { "sync1", "sync2" });
    }

    [Fact]
    public async Task Neither_the_page_nor_the_json_contains_a_password()
    {
        await NodeAsync(RoutingCategory.Report, "SalesReport.Build");
        using var admin = Client();
        (await admin.GetAsync("/login?role=admin")).EnsureSuccessStatusCode();
        var html = await admin.GetStringAsync("/routing");
        await Task.Delay(1_500); // a second of history
        var json = await admin.GetStringAsync("/routing/status");
        Assert.Contains("\"endpoint\":\"127.0.0.1:", json); // the pools are there, described by host and port
        foreach (var text in new[] { html, json })
        {
            Assert.DoesNotContain(KnownPassword, text);
            Assert.DoesNotContain("Password", text, StringComparison.OrdinalIgnoreCase);
        }
    }

    [GeneratedRegex("name=\"routing-antiforgery\" content=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();
}
