using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>Chooses each connection's node while it is closed (EF Core opens it before it creates a query's command).</summary>
internal sealed class RoutingConnectionInterceptor(EfRoutingCore core) : DbConnectionInterceptor
{
    public override InterceptionResult ConnectionOpening(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        core.OnOpening(eventData.Context);
        return result;
    }

    public override async ValueTask<InterceptionResult> ConnectionOpeningAsync(
        DbConnection connection, ConnectionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
    {
        await core.OnOpeningAsync(eventData.Context, cancellationToken).ConfigureAwait(false);
        return result;
    }

    public override void ConnectionClosed(DbConnection connection, ConnectionEndEventData eventData) =>
        EfRoutingCore.OnClosed(eventData.Context);

    public override Task ConnectionClosedAsync(DbConnection connection, ConnectionEndEventData eventData)
    {
        EfRoutingCore.OnClosed(eventData.Context);
        return Task.CompletedTask;
    }
}
