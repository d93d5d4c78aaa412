using RoutingSdk;

namespace ErpReports.Mistakes;

public interface IMarginReport
{
    [ReadReplica(Category = RoutingCategory.Report)]
    decimal Margin(int orderId);
}

public class OrderEntryWithMargin(IMarginReport report)
{
    [MasterOnly(Category = RoutingCategory.Interface)]
    public virtual decimal Save(int orderId) => report.Margin(orderId); // QR0006 (info): the report runs on the primary here
}
