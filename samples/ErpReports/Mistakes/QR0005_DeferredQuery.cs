using ErpReports.Model;
using RoutingSdk;

namespace ErpReports.Mistakes;

public class OpenOrdersReport(ErpDb db)
{
    [ReadReplica(Category = RoutingCategory.Report)]
    public virtual IQueryable<SalesOrder> OpenOrders() => db.SalesOrders.Where(o => o.OrderedAt > DateTime.UtcNow.AddDays(-7)); // QR0005
}
