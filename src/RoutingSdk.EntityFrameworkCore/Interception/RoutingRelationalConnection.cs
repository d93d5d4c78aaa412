using System.Data;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.Internal;
using Npgsql.EntityFrameworkCore.PostgreSQL.Storage.Internal;

namespace RoutingSdk.EntityFrameworkCore.Interception;

#pragma warning disable EF1001 // Npgsql's relational connection is subclassed: the open and close are routed without a connection interceptor.

/// <summary>
/// The context's relational connection, choosing each open's node without a connection interceptor: once any
/// <c>DbConnectionInterceptor</c> is registered, EF Core creates an event-data object for each open and close of every
/// query (docs/benchmarks.md, run 9). The node is chosen in <see cref="Open"/> before EF Core's open begins (so a
/// connection interceptor of yours sees the routed connection in <c>ConnectionOpening</c>), the asynchronous open is
/// bounded by the node's health, and the close ends the routing of the connection.
/// </summary>
internal sealed class RoutingRelationalConnection(
    RelationalConnectionDependencies dependencies, NpgsqlDataSourceManager dataSourceManager, IDbContextOptions options, RoutingContextState state)
    : NpgsqlRelationalConnection(dependencies, dataSourceManager, options)
{
    private readonly EfRoutingCore _core = options.FindExtension<QueryRoutingOptionsExtension>()?.Core
        ?? throw new RoutingException("RoutingSdk's relational connection was created for a context without UseQueryRouting.");

    /// <summary>The routing state of this connection's context.</summary>
    public RoutingContextState RoutingState => state;

    /// <summary>The connection EF Core opens (RelationalConnection's, not Npgsql's typed one, which would cast).</summary>
    private System.Data.Common.DbConnection Current => ((RelationalConnection)this).DbConnection;

    public override bool Open(bool errorsExpected = false)
    {
        if (Current.State == ConnectionState.Open)
        {
            return base.Open(errorsExpected); // nested: the connection keeps its node
        }

        if (Current.State == ConnectionState.Broken)
        {
            CloseDbConnection();
        }

        try
        {
            _core.OnOpening(Context, state); // may refuse a node already found lost: nothing opened, the slot goes back
            return base.Open(errorsExpected);
        }
        catch
        {
            EfRoutingCore.OnOpenFailed(state, Current);
            throw;
        }
    }

    public override async Task<bool> OpenAsync(CancellationToken cancellationToken, bool errorsExpected = false)
    {
        if (Current.State == ConnectionState.Open)
        {
            return await base.OpenAsync(cancellationToken, errorsExpected).ConfigureAwait(false);
        }

        if (Current.State == ConnectionState.Broken)
        {
            await CloseDbConnectionAsync().ConfigureAwait(false);
        }

        try
        {
            await _core.OnOpeningAsync(Context, state, cancellationToken).ConfigureAwait(false);
            return await base.OpenAsync(cancellationToken, errorsExpected).ConfigureAwait(false);
        }
        catch
        {
            EfRoutingCore.OnOpenFailed(state, Current);
            throw;
        }
    }

    protected override void OpenDbConnection(bool errorsExpected)
    {
        base.OpenDbConnection(errorsExpected);
        EfRoutingCore.OnOpened(state, Current);
    }

    /// <summary>Opens the routed connection bounded by its node's health as well as the caller's token (see <see cref="Pools.NodeWatch.OpenAsync(NpgsqlConnection, Pools.RoutingPool?, CancellationToken, Pools.IOpenAbandonedListener?, TimeSpan?, string?)"/>).</summary>
    protected override async Task OpenDbConnectionAsync(bool errorsExpected, CancellationToken cancellationToken)
    {
        if (Current is NpgsqlConnection connection && state.OpenPool is { } pool)
        {
            await Pools.NodeWatch.OpenAsync(connection, pool, cancellationToken, state).ConfigureAwait(false);
        }
        else
        {
            await base.OpenDbConnectionAsync(errorsExpected, cancellationToken).ConfigureAwait(false);
        }

        EfRoutingCore.OnOpened(state, Current);
    }

    // EF Core also "closes" a connection that never opened: SetDbConnection resets the service, closing the connection it
    // created itself, while the routed one is being installed. Only a close of an opened connection ends its routing.
    protected override void CloseDbConnection()
    {
        var wasOpen = Current.State != ConnectionState.Closed;
        try
        {
            base.CloseDbConnection();
        }
        finally
        {
            if (wasOpen)
            {
                EfRoutingCore.OnClosed(state);
            }
        }
    }

    protected override async Task CloseDbConnectionAsync()
    {
        var wasOpen = Current.State != ConnectionState.Closed;
        try
        {
            await base.CloseDbConnectionAsync().ConfigureAwait(false);
        }
        finally
        {
            if (wasOpen)
            {
                EfRoutingCore.OnClosed(state);
            }
        }
    }
}
