using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Mistakes;

public class DashboardReport(ErpDb db)
{
    [ReadReplica(Category = RoutingCategory.Report)]
    public virtual void Refresh()
    {
        Task.Run(() => db.Invoices.CountAsync()); // QR0007: outlives the operation with its route
    }
}
