using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Model;

/// <summary>Creates the schema and a realistic volume of data once (on the primary).</summary>
public static class Seeder
{
    public static async Task<int> EnsureAsync(ErpDb db, int orders, CancellationToken cancellationToken)
    {
        using var _ = RoutingScope.Begin(RouteKind.MasterOnly, "Seeder.Ensure");
        var exists = await db.Database.SqlQuery<bool>($"SELECT to_regclass('erp.invoices') IS NOT NULL AS \"Value\"").SingleAsync(cancellationToken);
        if (!exists)
        {
            await db.Database.ExecuteSqlRawAsync("CREATE SCHEMA IF NOT EXISTS erp", cancellationToken);
            await db.Database.ExecuteSqlRawAsync(db.Database.GenerateCreateScript(), cancellationToken);
        }

        var have = await db.SalesOrders.CountAsync(cancellationToken);
        if (have >= orders)
        {
            return have;
        }

        // Set-based on the server: seconds, not minutes, for tens of thousands of rows.
        await db.Database.ExecuteSqlRawAsync("""
            INSERT INTO erp.customers ("Name", "City")
            SELECT 'Customer ' || g, (ARRAY['Moscow','Kazan','Perm','Omsk','Tver','Samara'])[1 + g % 6]
            FROM generate_series((SELECT count(*) FROM erp.customers) + 1, 2000) g;

            INSERT INTO erp.products ("Name", "Price")
            SELECT 'Product ' || g, round((5 + random() * 495)::numeric, 2)
            FROM generate_series((SELECT count(*) FROM erp.products) + 1, 500) g;

            WITH o AS (
                INSERT INTO erp.sales_orders ("CustomerId", "OrderedAt")
                SELECT 1 + (random() * 1999)::int, now() - (random() * interval '365 days')
                FROM generate_series(1, {0})
                RETURNING "Id")
            INSERT INTO erp.sales_order_lines ("SalesOrderId", "ProductId", "Quantity", "UnitPrice")
            SELECT o."Id", 1 + (random() * 499)::int, 1 + (random() * 9)::int, round((5 + random() * 495)::numeric, 2)
            FROM o CROSS JOIN generate_series(1, 3);

            INSERT INTO erp.invoices ("SalesOrderId", "Number", "Total", "IssuedAt")
            SELECT o."Id", 'INV-' || lpad(o."Id"::text, 8, '0'), sum(l."Quantity" * l."UnitPrice"), o."OrderedAt"
            FROM erp.sales_orders o JOIN erp.sales_order_lines l ON l."SalesOrderId" = o."Id"
            WHERE NOT EXISTS (SELECT 1 FROM erp.invoices i WHERE i."SalesOrderId" = o."Id")
            GROUP BY o."Id", o."OrderedAt";

            ANALYZE erp.customers, erp.products, erp.sales_orders, erp.sales_order_lines, erp.invoices;
            """, [orders - have], cancellationToken);
        return await db.SalesOrders.CountAsync(cancellationToken);
    }
}
