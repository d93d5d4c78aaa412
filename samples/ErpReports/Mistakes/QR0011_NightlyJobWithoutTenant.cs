using System.Threading;
using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RoutingSdk;

namespace ErpReports.Mistakes;

public class NightlyInvoiceCount(IServiceScopeFactory scopes) : BackgroundService
{
    private static readonly string[] Tenants = ["acme", "globex"];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var tenant in Tenants)
        {
            using (TenantScope.Begin(tenant))
            {
                using var scope = scopes.CreateScope();
                var db = scope.ServiceProvider.GetRequiredService<ErpDb>();
                await db.Invoices.CountAsync(stoppingToken); // fine: this tenant's cluster
            }
        }

        using var cleanup = scopes.CreateScope();
        var erp = cleanup.ServiceProvider.GetRequiredService<ErpDb>();
        await erp.Invoices.Where(i => i.Total == 0).ExecuteDeleteAsync(stoppingToken); // QR0011: no tenant here; with several clusters it fails
    }
}
