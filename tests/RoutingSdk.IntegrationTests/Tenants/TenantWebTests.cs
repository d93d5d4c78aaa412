using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoutingSdk.AspNetCore;
using RoutingSdk.IntegrationTests.Infrastructure;

namespace RoutingSdk.IntegrationTests.Tenants;

/// <summary>
/// An ASP.NET Core application on real Kestrel over the two real clusters: the tenant comes from a request header
/// (UseRoutingTenant), each request's statement runs on its tenant's cluster (system_identifier), and the operations
/// page shows each cluster and its tenants.
/// </summary>
[Collection(SecondClusterCollection.Name)]
public sealed class TenantWebTests(ClusterFixture shared, SecondClusterFixture dedicated) : IAsyncLifetime
{
    private readonly TenantTopology _topology = new(shared.Cluster, dedicated.Cluster);
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        await TenantTopology.EnsureSchemaAsync(shared.Cluster);
        await TenantTopology.EnsureSchemaAsync(dedicated.Cluster);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(_topology.Settings());
        builder.Services.AddQueryRouting(builder.Configuration.GetSection("Routing"));
        builder.Services.AddDbContext<TenantDb>((sp, o) => o.UseNpgsql(sp.GetRequiredService<RoutingPools>().PrimaryConnectionString).UseQueryRouting(sp));
        _app = builder.Build();
        // Tenant-owned endpoints require a tenant; the operations page belongs to no tenant.
        _app.UseWhen(c => c.Request.Path.StartsWithSegments("/where"), b => b.UseRoutingTenant(o => { o.Header = "X-Tenant"; o.WhenMissing = MissingTenantAction.Reject; }));
        _app.MapGet("/where", async (TenantDb db) => await db.Database.SqlQueryRaw<ServerIdentity>(TenantTopology.IdentitySql).SingleAsync());
        _app.MapQueryRoutingDashboard("/routing", o => o.AllowAnonymousReadOnly = true);
        await _app.StartAsync();
        var url = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(url) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task<ServerIdentity> WhereAsync(string tenant)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/where");
        request.Headers.Add("X-Tenant", tenant);
        using var response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return JsonSerializer.Deserialize<ServerIdentity>(await response.Content.ReadAsStringAsync(), JsonSerializerOptions.Web)!;
    }

    [Fact]
    public async Task Each_requests_tenant_header_picks_its_cluster_and_the_operations_page_shows_each_cluster_and_its_tenants()
    {
        var sharedId = await TenantTopology.SystemIdentifierAsync(shared.Cluster);
        var dedicatedId = await TenantTopology.SystemIdentifierAsync(dedicated.Cluster);
        Assert.Equal(sharedId, (await WhereAsync("acme")).SystemIdentifier);
        Assert.Equal(dedicatedId, (await WhereAsync("initech")).SystemIdentifier);
        Assert.Equal(sharedId, (await WhereAsync("globex")).SystemIdentifier);

        using (var missing = await _http.GetAsync("/where"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Contains("X-Tenant", await missing.Content.ReadAsStringAsync());
        }

        using var page = JsonDocument.Parse(await _http.GetStringAsync("/routing/status?cluster=dedicated"));
        var root = page.RootElement;
        Assert.Equal("dedicated", root.GetProperty("cluster").GetString());
        Assert.Equal(["dedicated", "shared"], root.GetProperty("clusters").EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToArray());
        Assert.Equal(["primary", "sync1"], root.GetProperty("pools").EnumerateArray().Select(p => p.GetProperty("name").GetString()!).ToArray());
        Assert.Equal(["initech"], root.GetProperty("tenants").EnumerateArray().Select(t => t.GetProperty("tenant").GetString()!).ToArray());

        // Without ?cluster= the page shows the default cluster, else the first by name.
        using (var first = JsonDocument.Parse(await _http.GetStringAsync("/routing/status")))
        {
            Assert.Equal("dedicated", first.RootElement.GetProperty("cluster").GetString());
        }

        using var sharedPage = JsonDocument.Parse(await _http.GetStringAsync("/routing/status?cluster=SHARED"));
        Assert.Equal("shared", sharedPage.RootElement.GetProperty("cluster").GetString());
        Assert.Equal(["acme", "globex"], sharedPage.RootElement.GetProperty("tenants").EnumerateArray().Select(t => t.GetProperty("tenant").GetString()!).Order().ToArray());

        using var unknown = await _http.GetAsync("/routing/status?cluster=nowhere");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("dedicated, shared", await unknown.Content.ReadAsStringAsync());
    }
}
