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
        if (result.IsSuppressed)
        {
            await core.OnOpeningAsync(eventData.Context, open: false, cancellationToken).ConfigureAwait(false);
            return result;
        }

        // RoutingSdk opens the routed connection itself, bounded by its node's health (see EfRoutingCore.OnOpeningAsync).
        await core.OnOpeningAsync(eventData.Context, open: true, cancellationToken).ConfigureAwait(false);
        return InterceptionResult.Suppress();
    }

    public override void ConnectionFailed(DbConnection connection, ConnectionErrorEventData eventData) => MarkOpenFailed(eventData);

    public override Task ConnectionFailedAsync(DbConnection connection, ConnectionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        MarkOpenFailed(eventData);
        return Task.CompletedTask;
    }

    // EF Core reports a failed open (and a failed close) here; a close that fails after an open does not matter to routing.
    private static void MarkOpenFailed(ConnectionErrorEventData eventData)
    {
        if (eventData.Context is { } context && connectionIsClosed(eventData.Connection))
        {
            var state = EfRoutingCore.State(context);
            state.OpenFailed = true;
            state.ReleaseLease();
            state.OpenCluster = null;
        }

        static bool connectionIsClosed(DbConnection c) => c.State != System.Data.ConnectionState.Open;
    }

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => EfRoutingCore.OnOpened(eventData.Context, connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        EfRoutingCore.OnOpened(eventData.Context, connection);
        return Task.CompletedTask;
    }

    public override void ConnectionClosed(DbConnection connection, ConnectionEndEventData eventData) =>
        EfRoutingCore.OnClosed(eventData.Context);

    public override Task ConnectionClosedAsync(DbConnection connection, ConnectionEndEventData eventData)
    {
        EfRoutingCore.OnClosed(eventData.Context);
        return Task.CompletedTask;
    }
}
