using Microsoft.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;

namespace RoutingSdk.IntegrationTests.DependencyInjection;

internal static class NodeQuery
{
    public static Task<string> AskAsync(ErpTestDb db) =>
        db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
}

public interface ISalesReport
{
    Task<string> NodeAsync();

    IAsyncEnumerable<string> StreamNodesAsync();
}

[ReadReplica(Category = RoutingCategory.Report)]
public sealed class SalesReport(ErpTestDb db) : ISalesReport
{
    public Task<string> NodeAsync() => NodeQuery.AskAsync(db);

    public IAsyncEnumerable<string> StreamNodesAsync() =>
        db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\" FROM generate_series(1, 3)").AsAsyncEnumerable();
}

public interface IInvoicePrintForm
{
    Task<string> NodeAsync();
}

[AsyncReplica(Category = RoutingCategory.PrintForm)]
public sealed class InvoicePrintForm(ErpTestDb db) : IInvoicePrintForm
{
    public Task<string> NodeAsync() => NodeQuery.AskAsync(db);
}

public interface IOrderEntry
{
    Task<string> NodeAsync();

    Task<string> ReportNodeAsync();
}

[MasterOnly(Category = RoutingCategory.Interface)]
public sealed class OrderEntry(ErpTestDb db, ISalesReport report) : IOrderEntry
{
    public Task<string> NodeAsync() => NodeQuery.AskAsync(db);

    public Task<string> ReportNodeAsync() => report.NodeAsync();
}

public interface ICustomerCard
{
    Task<string> NodeAsync();
}

// Unannotated: follows RoutingOptions.DefaultRoute. Registered as a routed service only so the scan sees it is not.
public sealed class CustomerCard(ErpTestDb db) : ICustomerCard
{
    public Task<string> NodeAsync() => NodeQuery.AskAsync(db);
}
