using Microsoft.EntityFrameworkCore;

namespace ErpReports.Model;

/// <summary>A slice of an ERP: customers, products, sales orders with lines, invoices.</summary>
public sealed class ErpDb(DbContextOptions<ErpDb> options) : DbContext(options)
{
    public DbSet<Customer> Customers => Set<Customer>();

    public DbSet<Product> Products => Set<Product>();

    public DbSet<SalesOrder> SalesOrders => Set<SalesOrder>();

    public DbSet<SalesOrderLine> SalesOrderLines => Set<SalesOrderLine>();

    public DbSet<Invoice> Invoices => Set<Invoice>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasDefaultSchema("erp");
        modelBuilder.Entity<Customer>(e =>
        {
            e.ToTable("customers");
            e.Property(c => c.Name).HasMaxLength(200);
            e.Property(c => c.City).HasMaxLength(100);
        });
        modelBuilder.Entity<Product>(e =>
        {
            e.ToTable("products");
            e.Property(p => p.Price).HasPrecision(12, 2);
        });
        modelBuilder.Entity<SalesOrder>(e =>
        {
            e.ToTable("sales_orders");
            e.HasOne<Customer>().WithMany().HasForeignKey(o => o.CustomerId);
            e.HasMany(o => o.Lines).WithOne().HasForeignKey(l => l.SalesOrderId);
            e.HasIndex(o => new { o.CustomerId, o.OrderedAt });
            e.HasIndex(o => o.OrderedAt);
        });
        modelBuilder.Entity<SalesOrderLine>(e =>
        {
            e.ToTable("sales_order_lines");
            e.Property(l => l.UnitPrice).HasPrecision(12, 2);
            e.HasOne<Product>().WithMany().HasForeignKey(l => l.ProductId);
        });
        modelBuilder.Entity<Invoice>(e =>
        {
            e.ToTable("invoices");
            e.Property(i => i.Total).HasPrecision(14, 2);
            e.HasOne<SalesOrder>().WithOne().HasForeignKey<Invoice>(i => i.SalesOrderId);
        });
    }
}

public sealed class Customer
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public string City { get; set; } = "";
}

public sealed class Product
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public decimal Price { get; set; }
}

public sealed class SalesOrder
{
    public int Id { get; set; }

    public int CustomerId { get; set; }

    public DateTime OrderedAt { get; set; }

    public List<SalesOrderLine> Lines { get; set; } = [];
}

public sealed class SalesOrderLine
{
    public int Id { get; set; }

    public int SalesOrderId { get; set; }

    public int ProductId { get; set; }

    public int Quantity { get; set; }

    public decimal UnitPrice { get; set; }
}

public sealed class Invoice
{
    public int Id { get; set; }

    public int SalesOrderId { get; set; }

    public string Number { get; set; } = "";

    public decimal Total { get; set; }

    public DateTime IssuedAt { get; set; }
}
