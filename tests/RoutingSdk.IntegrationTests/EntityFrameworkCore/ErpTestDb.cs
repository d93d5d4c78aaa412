using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace RoutingSdk.IntegrationTests.EntityFrameworkCore;

public sealed class ErpTestDb(DbContextOptions<ErpTestDb> options) : DbContext(options)
{
    public DbSet<Customer> Customers => Set<Customer>();

    public DbSet<Order> Orders => Set<Order>();

    public DbSet<MixedProbe> MixedProbes => Set<MixedProbe>();

    public DbSet<RoundtripProbe> RoundtripProbes => Set<RoundtripProbe>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasDefaultSchema("ef_routing");
        modelBuilder.Entity<Customer>(e =>
        {
            e.ToTable("customers");
            e.Property(c => c.Id).HasColumnName("id");
            e.Property(c => c.Name).HasColumnName("name");
            e.HasMany(c => c.Orders).WithOne().HasForeignKey(o => o.CustomerId);
        });
        modelBuilder.Entity<Order>(e =>
        {
            e.ToTable("orders");
            e.Property(o => o.Id).HasColumnName("id");
            e.Property(o => o.CustomerId).HasColumnName("customer_id");
            e.Property(o => o.Total).HasColumnName("total");
        });
        modelBuilder.Entity<MixedProbe>(e =>
        {
            e.ToTable("mixed_probe");
            e.Property(p => p.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(p => p.Counter).HasColumnName("counter");
        });
        modelBuilder.Entity<RoundtripProbe>(e =>
        {
            e.ToTable("roundtrip_probe");
            e.Property(p => p.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(p => p.Label).HasColumnName("label");
        });
    }

    public const string Ddl = """
        CREATE SCHEMA IF NOT EXISTS ef_routing;
        CREATE TABLE IF NOT EXISTS ef_routing.customers (id serial PRIMARY KEY, name text NOT NULL);
        CREATE TABLE IF NOT EXISTS ef_routing.orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES ef_routing.customers(id), total numeric NOT NULL);
        CREATE TABLE IF NOT EXISTS ef_routing.mixed_probe (id int PRIMARY KEY, counter int NOT NULL);
        CREATE TABLE IF NOT EXISTS ef_routing.roundtrip_probe (id int PRIMARY KEY, label text NOT NULL);
        """;
}

public sealed class Customer
{
    private readonly ILazyLoader? _lazyLoader;
    private ICollection<Order>? _orders;

    public Customer()
    {
    }

    private Customer(ILazyLoader lazyLoader) => _lazyLoader = lazyLoader;

    public int Id { get; set; }

    public string Name { get; set; } = "";

    public ICollection<Order> Orders
    {
        get => _lazyLoader.Load(this, ref _orders) ?? (_orders = []);
        set => _orders = value;
    }
}

public sealed class Order
{
    public int Id { get; set; }

    public int CustomerId { get; set; }

    public decimal Total { get; set; }
}

public sealed class MixedProbe
{
    public int Id { get; set; }

    public int Counter { get; set; }
}

public sealed class RoundtripProbe
{
    public int Id { get; set; }

    public string Label { get; set; } = "";
}
