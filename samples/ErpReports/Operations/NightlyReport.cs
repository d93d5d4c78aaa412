using ErpReports.Model;
using Microsoft.EntityFrameworkCore;
using RoutingSdk;

namespace ErpReports.Operations;

/// <summary>The long nightly report: long enough on a replica to meet a WAL-replay conflict, which RoutingSdk survives by retrying.</summary>
public interface INightlyReport
{
    Task<string> RunAsync(CancellationToken cancellationToken);
}

[ReadReplica(Category = RoutingCategory.Report)]
public sealed class NightlyReport(ErpDb db) : INightlyReport
{
    // A slow aggregate: its single row arrives only after ~3 s, holding a lock on the invoices the whole time.
    public Task<string> RunAsync(CancellationToken cancellationToken) =>
        db.Database.SqlQuery<string>($"""
            SELECT current_setting('cluster_name') || ': ' || count(*) || ' invoices, ' || sum(i."Total") AS "Value" -- op:NightlyReport
            FROM erp.invoices i CROSS JOIN LATERAL (SELECT pg_sleep(CASE WHEN i."Id" <= 6 THEN 0.5 ELSE 0 END)) s
            WHERE i."Id" <= 6
            """).SingleAsync(cancellationToken);
}
