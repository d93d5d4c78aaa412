using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Operations;

/// <summary>What an order entry returns: the invoice to print and the point in the WAL its reads must see.</summary>
public sealed record CreatedOrder(int OrderId, int InvoiceId, CausalToken Token);

/// <summary>The order-entry interface: it writes and reads back what it wrote, so everything stays on the master.</summary>
public interface IOrderEntryForm
{
    Task<CreatedOrder> CreateOrderAsync(int customerId, IReadOnlyList<(int ProductId, int Quantity)> lines, CancellationToken cancellationToken);
}

[MasterOnly(Category = RoutingCategory.Interface)]
public sealed class OrderEntryForm(ErpDb db, RoutingDataSource routing) : IOrderEntryForm
{
    public async Task<CreatedOrder> CreateOrderAsync(int customerId, IReadOnlyList<(int ProductId, int Quantity)> lines, CancellationToken cancellationToken)
    {
        var productIds = lines.Select(l => l.ProductId).ToList();
        var prices = await db.Products.TagWith("op:OrderEntry").Where(p => productIds.Contains(p.Id)).ToDictionaryAsync(p => p.Id, p => p.Price, cancellationToken);
        var order = new SalesOrder
        {
            CustomerId = customerId,
            OrderedAt = DateTime.UtcNow,
            Lines = lines.Select(l => new SalesOrderLine { ProductId = l.ProductId, Quantity = l.Quantity, UnitPrice = prices[l.ProductId] }).ToList(),
        };

        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        db.SalesOrders.Add(order);
        await db.SaveChangesAsync(cancellationToken);
        var invoice = new Invoice
        {
            SalesOrderId = order.Id,
            Number = $"INV-{order.Id:D8}",
            Total = order.Lines.Sum(l => l.Quantity * l.UnitPrice),
            IssuedAt = order.OrderedAt,
        };
        db.Invoices.Add(invoice);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);

        // Hand the print form (another operation, maybe another service) the position it must read at.
        return new CreatedOrder(order.Id, invoice.Id, await routing.GetCausalTokenAsync(cancellationToken));
    }
}
