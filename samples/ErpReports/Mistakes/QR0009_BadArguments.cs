using RoutingSdk;

namespace ErpReports.Mistakes;

public class WaybillPrintForm
{
    [AsyncReplica(MaxLagMilliseconds = 0, Category = RoutingCategory.PrintForm)] // QR0009: the limit must be > 0
    public virtual void Print() { }
}
