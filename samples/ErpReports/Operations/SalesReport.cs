using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Operations;

public sealed record CustomerRevenue(int CustomerId, string Name, decimal Revenue);

/// <summary>The sales report: heavy reads, no writes — the read replicas' job.</summary>
public interface ISalesReport
{
    Task<List<CustomerRevenue>> TopCustomersAsync(DateTime start, DateTime end, CancellationToken cancellationToken);
}

[ReadReplica(Category = RoutingCategory.Report)]
public sealed class SalesReport(ErpDb db) : ISalesReport
{
    public Task<List<CustomerRevenue>> TopCustomersAsync(DateTime start, DateTime end, CancellationToken cancellationToken) =>
        (from o in db.SalesOrders.TagWith("op:SalesReport")
         where o.OrderedAt >= start && o.OrderedAt < end
         from l in o.Lines
         join c in db.Customers on o.CustomerId equals c.Id
         group l by new { c.Id, c.Name } into g
         orderby g.Sum(l => l.Quantity * l.UnitPrice) descending
         select new CustomerRevenue(g.Key.Id, g.Key.Name, g.Sum(l => l.Quantity * l.UnitPrice)))
        .Take(10)
        .ToListAsync(cancellationToken);
}
