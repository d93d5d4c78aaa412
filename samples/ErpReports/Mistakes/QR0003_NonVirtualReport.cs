using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Mistakes;

public class CatalogReport(ErpDb db)
{
    [ReadReplica(Category = RoutingCategory.Report)] // QR0003: not virtual and no interface: no proxy can intercept it
    public Task<int> CountAsync() => db.Products.CountAsync();
}
