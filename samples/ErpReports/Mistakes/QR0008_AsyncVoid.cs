using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Mistakes;

public class InvoicePreview(ErpDb db)
{
    [AsyncReplica(MaxLagMilliseconds = 5_000, Category = RoutingCategory.PrintForm)]
    public virtual async void Show(int invoiceId) => await db.Invoices.FindAsync(invoiceId); // QR0008
}
