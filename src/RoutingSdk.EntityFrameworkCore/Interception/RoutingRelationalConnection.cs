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

    // Set while an open RoutingSdk routed in Open/OpenAsync runs: an open EF Core starts by itself (a nested Open that
    // found the connection broken meanwhile) is routed where it happens instead, in OpenDbConnection.
    private bool _routed;

    // Set while EF Core's own Open runs: a broken connection it closes there, before it opens again, is closed without
    // ending its routing (see CloseDbConnection).
    private bool _opening;

    public override bool Open(bool errorsExpected = false)
    {
        if (Current.State == ConnectionState.Open)
        {
            var outerOpening = _opening;
            try
            {
                _opening = true;
                return base.Open(errorsExpected); // nested: the connection keeps its node (see OpenDbConnection if it broke meanwhile)
            }
            catch
            {
                EfRoutingCore.OnOpenFailed(state, Current); // only if EF Core's reopen of a connection that broke meanwhile failed
                throw;
            }
            finally
            {
                _opening = outerOpening;
            }
        }

        if (Current.State == ConnectionState.Broken)
        {
            CloseBroken(); // as EF Core's Open would
        }

        var outer = _routed; // an interceptor of yours may query this context inside ConnectionOpening
        try
        {
            _core.OnOpening(Context, state); // may refuse a node already found lost: nothing opened, the slot goes back
            _routed = true;
            var opened = base.Open(errorsExpected);
            WatchIfSuppressed();
            return opened;
        }
        catch
        {
            EfRoutingCore.OnOpenFailed(state, Current);
            throw;
        }
        finally
        {
            _routed = outer;
        }
    }

    public override async Task<bool> OpenAsync(CancellationToken cancellationToken, bool errorsExpected = false)
    {
        if (Current.State == ConnectionState.Open)
        {
            var outerOpening = _opening;
            try
            {
                _opening = true;
                return await base.OpenAsync(cancellationToken, errorsExpected).ConfigureAwait(false);
            }
            catch
            {
                EfRoutingCore.OnOpenFailed(state, Current);
                throw;
            }
            finally
            {
                _opening = outerOpening;
            }
        }

        if (Current.State == ConnectionState.Broken)
        {
            await CloseBrokenAsync().ConfigureAwait(false);
        }

        var outer = _routed;
        try
        {
            await _core.OnOpeningAsync(Context, state, cancellationToken).ConfigureAwait(false);
            _routed = true;
            var opened = await base.OpenAsync(cancellationToken, errorsExpected).ConfigureAwait(false);
            WatchIfSuppressed();
            return opened;
        }
        catch
        {
            EfRoutingCore.OnOpenFailed(state, Current);
            throw;
        }
        finally
        {
            _routed = outer;
        }
    }

    protected override void OpenDbConnection(bool errorsExpected)
    {
        if (!_routed)
        {
            RouteUnplannedOpen();
        }

        base.OpenDbConnection(errorsExpected);
        Watch();
    }

    /// <summary>Opens the routed connection bounded by its node's health as well as the caller's token (see <see cref="Pools.NodeWatch.OpenAsync(NpgsqlConnection, Pools.RoutingPool?, CancellationToken, Pools.IOpenAbandonedListener?, TimeSpan?, string?)"/>).</summary>
    protected override async Task OpenDbConnectionAsync(bool errorsExpected, CancellationToken cancellationToken)
    {
        var unplanned = !_routed;
        if (unplanned)
        {
            try
            {
                await _core.OnOpeningAsync(Context, state, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                EfRoutingCore.OnOpenFailed(state, Current);
                throw;
            }
        }

        if (Current is NpgsqlConnection connection && state.OpenPool is { } pool)
        {
            await Pools.NodeWatch.OpenAsync(connection, pool, cancellationToken, state).ConfigureAwait(false);
        }
        else
        {
            await base.OpenDbConnectionAsync(errorsExpected, cancellationToken).ConfigureAwait(false);
        }

        Watch();
    }

    private void RouteUnplannedOpen()
    {
        try
        {
            _core.OnOpening(Context, state);
        }
        catch
        {
            EfRoutingCore.OnOpenFailed(state, Current);
            throw;
        }
    }

    /// <summary>Ties the open connection to its node's health, right after it opened (before EF Core enlists it in an ambient transaction).</summary>
    private void Watch()
    {
        if (Current.State == ConnectionState.Open)
        {
            EfRoutingCore.OnOpened(state, Current);
        }
    }

    /// <summary>A connection interceptor of yours suppressed EF Core's open and opened the routed connection itself: it is watched too.</summary>
    private void WatchIfSuppressed()
    {
        if (state.Watch is not { Armed: true })
        {
            Watch();
        }
    }

    /// <summary>
    /// The connection EnsureCreated, EnsureDeleted and Migrate use to create or drop the database: Npgsql builds it from
    /// UseNpgsql's connection string, which has no password once it was used (<c>Persist Security Info</c> is off) and
    /// names whatever host UseNpgsql named. RoutingSdk builds it from the current tenant's cluster's primary pool instead
    /// (its credentials and data-source callbacks, and the primary Patroni reports now), on the admin database
    /// (<c>postgres</c> unless UseNpgsql's <c>UseAdminDatabase</c> names another), unpooled as Npgsql's own.
    /// </summary>
    public override INpgsqlRelationalConnection CreateAdminConnection()
    {
        var primary = _core.Clusters.ForSettings().Router.CurrentPrimary // the current tenant's cluster, not the context's last one
            ?? throw new RoutingException("EnsureCreated, EnsureDeleted and Migrate need the primary to create or drop the database, and no primary is known now (see the operations page or the health checks); retry once one is.");
        var npgsql = Dependencies.ContextOptions.FindExtension<NpgsqlOptionsExtension>()
            ?? throw new InvalidOperationException("UseQueryRouting needs UseNpgsql on the same options.");
        var connectionString = new NpgsqlConnectionStringBuilder(primary.ConnectionString)
        {
            Database = npgsql.AdminDatabase ?? "postgres",
            Pooling = false,
            Multiplexing = false,
        }.ConnectionString;
        // Cloned from the pool's data source, as Npgsql clones its own: the password provider and SSL callbacks configured
        // with ConfigureDataSource come along.
        var connection = primary.DataSourceFor(state.Extras).CreateConnection().CloneWith(connectionString);
        var options = new Microsoft.EntityFrameworkCore.DbContextOptionsBuilder();
        ((IDbContextOptionsBuilderInfrastructure)options).AddOrUpdateExtension(
            (NpgsqlOptionsExtension)npgsql.WithConnectionString(null).WithConnection(connection));
        return new AdminConnection(Dependencies with { ContextOptions = options.Options });
    }

    /// <summary>Npgsql's relational connection on a connection string of its own (the protected constructor, no data source).</summary>
    internal sealed class AdminConnection(RelationalConnectionDependencies dependencies) : NpgsqlRelationalConnection(dependencies, dataSource: null);

    // EF Core also "closes" a connection that never opened: SetDbConnection resets the service, closing the connection it
    // created itself, while the routed one is being installed. Only a close of an opened connection ends its routing.
    // A broken connection that EF Core's Open closes before it opens again is closed without ending its routing (EF Core
    // raises no close event for it either): the failure that broke it was judged where it happened, and the operation's
    // pending write must survive into the new open's decision. A broken connection closed by Close (a failed command's
    // cleanup) ends its routing as any other.
    protected override void CloseDbConnection()
    {
        if (_opening && Current.State == ConnectionState.Broken)
        {
            CloseBroken();
            return;
        }

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
        if (_opening && Current.State == ConnectionState.Broken)
        {
            await CloseBrokenAsync().ConfigureAwait(false);
            return;
        }

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

    private void CloseBroken()
    {
        state.Watch?.Disarm();
        base.CloseDbConnection();
    }

    private async Task CloseBrokenAsync()
    {
        state.Watch?.Disarm();
        await base.CloseDbConnectionAsync().ConfigureAwait(false);
    }
}
