namespace RoutingSdk.Tests.DependencyInjection;

public sealed record Seen(RouteKind? Route, RoutingCategory? Category, string? Scenario, bool Overridden);

internal static class Observe
{
    public static Seen Now() => new(RoutingScope.Current?.Route, RoutingScope.Current?.Category, RoutingScope.Current?.Scenario, RoutingScope.Current?.IsOverridden ?? false);
}

public interface ISalesReport
{
    Seen Build();

    Task<Seen> BuildAsync();

    ValueTask<Seen> BuildValueAsync();

    IAsyncEnumerable<Seen> StreamAsync();

    IEnumerable<Seen> Iterate();

    IEnumerable<Seen> Materialized();

    IQueryable<int> Deferred();

    Seen Fail();
}

[ReadReplica(Category = RoutingCategory.Report)]
public sealed class SalesReport : ISalesReport, IDisposable
{
    public static int Disposed;

    public Seen Build() => Observe.Now();

    public async Task<Seen> BuildAsync()
    {
        await Task.Yield();
        await Task.Delay(1);
        return Observe.Now();
    }

    public async ValueTask<Seen> BuildValueAsync()
    {
        await Task.Yield();
        return Observe.Now();
    }

    public async IAsyncEnumerable<Seen> StreamAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            await Task.Yield();
            yield return Observe.Now();
        }
    }

    public IEnumerable<Seen> Iterate()
    {
        for (var i = 0; i < 3; i++)
        {
            yield return Observe.Now();
        }
    }

    public IEnumerable<Seen> Materialized() => new List<Seen> { Observe.Now() };

    public IQueryable<int> Deferred() => new[] { 1, 2 }.AsQueryable();

    public Seen Fail() => throw new InvalidOperationException("boom");

    public void Dispose() => Interlocked.Increment(ref Disposed);
}

[MasterOnly(Category = RoutingCategory.Interface)]
public interface IPrecedence
{
    Seen FromInterfaceType();

    [AsyncReplica(MaxLagMilliseconds = 5_000)]
    Seen FromInterfaceMethod();

    [AsyncReplica]
    Seen FromImplementationMethod();
}

[ReadReplica(Scenario = "Precedence.Class")]
public sealed class Precedence : IPrecedence
{
    public Seen FromInterfaceType() => Observe.Now(); // implementation class (ReadReplica) beats interface type (MasterOnly)

    public Seen FromInterfaceMethod() => Observe.Now(); // interface method (AsyncReplica) beats implementation class

    [MasterOnly(Scenario = "Precedence.Method")]
    public Seen FromImplementationMethod() => Observe.Now(); // implementation method beats interface method
}

public interface IOrderEntry
{
    Seen SaveAndReport();
}

[MasterOnly(Category = RoutingCategory.Interface)]
public sealed class OrderEntry(ISalesReport report) : IOrderEntry
{
    public Seen SaveAndReport() => report.Build();
}

public class CatalogReport
{
    [ReadReplica]
    public virtual Seen Build() => Observe.Now();

    public Seen Unrouted() => Observe.Now();
}

public class NonVirtualReport
{
    [ReadReplica]
    public Seen Build() => Observe.Now();

    [MasterOnly]
    private Seen Hidden() => Observe.Now();

    [ReadReplica]
    public static Seen Static() => Observe.Now();

    internal Seen UseHidden() => Hidden();
}

[ReadReplica]
public sealed class SealedReport
{
    public Seen Build() => Observe.Now();
}

public interface IStockReport
{
    Seen Build();
}

public sealed class StockReport : IStockReport
{
    public Seen Build() => Observe.Now();

    [ReadReplica]
    public Seen NotOnInterface() => Observe.Now();
}

public sealed class CountedDependency
{
    private static int _created;

    public CountedDependency() => Interlocked.Increment(ref _created);

    public static int Created => Volatile.Read(ref _created);
}

public class ReportWithTransientDependency(CountedDependency dependency)
{
    public CountedDependency Dependency { get; } = dependency;

    [ReadReplica]
    public virtual Seen Build() => Observe.Now();
}
