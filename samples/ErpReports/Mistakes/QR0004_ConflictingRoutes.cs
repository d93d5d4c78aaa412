using RoutingSdk;

namespace ErpReports.Mistakes;

public class WarehouseForm
{
    [MasterOnly]
    [ReadReplica] // QR0004: one operation, two routes
    public virtual void Open() { }
}
