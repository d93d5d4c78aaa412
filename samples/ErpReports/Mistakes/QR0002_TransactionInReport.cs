using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Mistakes;

public class StockReport(ErpDb db)
{
    [ReadReplica(Category = RoutingCategory.Report)]
    public virtual async Task<int> BuildAsync()
    {
        await using var tx = await db.Database.BeginTransactionAsync(); // QR0002: everything below runs on the primary
        return await db.Products.CountAsync();
    }
}
