using ErpReports.Model;
using Microsoft.EntityFrameworkCore;

namespace ErpReports.Operations;

public sealed record CustomerCardView(string Name, string City, int Orders, DateTime? LastOrder);

/// <summary>The customer card interface, left unannotated: it follows RoutingOptions.DefaultRoute.</summary>
public interface ICustomerCard
{
    Task<CustomerCardView?> OpenAsync(int customerId, CancellationToken cancellationToken);
}

public sealed class CustomerCard(ErpDb db) : ICustomerCard
{
    public async Task<CustomerCardView?> OpenAsync(int customerId, CancellationToken cancellationToken)
    {
        var customer = await db.Customers.TagWith("op:CustomerCard").AsNoTracking().SingleOrDefaultAsync(c => c.Id == customerId, cancellationToken);
        if (customer is null)
        {
            return null;
        }

        var orders = db.SalesOrders.TagWith("op:CustomerCard").Where(o => o.CustomerId == customerId);
        return new CustomerCardView(customer.Name, customer.City, await orders.CountAsync(cancellationToken), await orders.MaxAsync(o => (DateTime?)o.OrderedAt, cancellationToken));
    }
}
