using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Operations;

public sealed record PrintedInvoice(string Number, decimal Total, int Lines);

/// <summary>The invoice print form: an asynchronous replica is good enough, as long as it shows the invoice just created.</summary>
public interface IInvoicePrintForm
{
    /// <param name="invoiceId">The invoice.</param>
    /// <param name="after">For an invoice just created: the order entry's causal token (read-your-writes).</param>
    Task<PrintedInvoice?> PrintAsync(int invoiceId, CausalToken? after, CancellationToken cancellationToken);
}

[AsyncReplica(MaxLagMilliseconds = 5_000, Category = RoutingCategory.PrintForm)]
public sealed class InvoicePrintForm(ErpDb db) : IInvoicePrintForm
{
    public async Task<PrintedInvoice?> PrintAsync(int invoiceId, CausalToken? after, CancellationToken cancellationToken)
    {
        if (after is { } token)
        {
            RoutingScope.Current?.WaitFor(token);
        }

        var invoice = await db.Invoices.TagWith("op:InvoicePrint").AsNoTracking().SingleOrDefaultAsync(i => i.Id == invoiceId, cancellationToken);
        if (invoice is null)
        {
            return null;
        }

        var lines = await db.SalesOrderLines.TagWith("op:InvoicePrint").CountAsync(l => l.SalesOrderId == invoice.SalesOrderId, cancellationToken);
        return new PrintedInvoice(invoice.Number, invoice.Total, lines);
    }
}
