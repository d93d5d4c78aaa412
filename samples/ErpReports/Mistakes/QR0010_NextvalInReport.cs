using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Mistakes;

[ReadReplica(Category = RoutingCategory.PrintForm)]
public class InvoiceNumbering(ErpDb db)
{
    // QR0010: nextval() writes; a replica refuses it with SQLSTATE 25006. Add .OnPrimary() or route the method [MasterOnly].
    public virtual Task<long> NextNumberAsync() =>
        db.Database.SqlQuery<long>($"SELECT nextval('invoice_numbers') AS \"Value\"").SingleAsync();
}
