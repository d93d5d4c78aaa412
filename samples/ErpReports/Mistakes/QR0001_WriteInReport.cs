using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Mistakes;

[ReadReplica(Category = RoutingCategory.Report)]
public class SalesReportWithAudit(ErpDb db)
{
    public virtual async Task<int> BuildAsync()
    {
        var count = await db.SalesOrders.CountAsync();
        db.Customers.Add(new Customer { Name = "report audit" });
        await db.SaveChangesAsync(); // QR0001: a write in a report routed to replicas
        return count;
    }
}
