using System.Collections.Concurrent;
using Npgsql;

namespace RoutingSdk.Pools;

/// <summary>A user's configuration of every pool's <see cref="NpgsqlDataSourceBuilder"/> (enums, plugins, logging, password providers).</summary>
internal sealed record DataSourceConfiguration(Action<NpgsqlDataSourceBuilder, IServiceProvider?> Configure);

/// <summary>
/// What another layer declares for its data source (EF Core's <c>UseNpgsql(cs, n =&gt; n.MapEnum&lt;T&gt;().UseNodaTime())</c>:
/// enum mappings, plugins, a data-source action), to be carried to every pool's data source that layer uses. Two are
/// the same when their <paramref name="Key"/> is: the same declarations, by type and by code, not by object identity
/// (EF Core rebuilds its options per scope).
/// </summary>
/// <param name="Key">What is declared, e.g. enum CLR type = PostgreSQL type, plugin types, the action's method.</param>
/// <param name="Configure">Applies the declarations to a pool's builder.</param>
/// <param name="Source">Where it was declared, for messages (e.g. "UseNpgsql(...) of ErpDb").</param>
internal sealed record DataSourceExtras(string Key, Action<NpgsqlDataSourceBuilder> Configure, string Source)
{
    public bool Equals(DataSourceExtras? other) => other is not null && string.Equals(Key, other.Key, StringComparison.Ordinal);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Key);
}

/// <summary>
/// One <see cref="NpgsqlDataSource"/> per pool (name + effective connection string), shared by EF Core, ADO.NET and
/// Dapper, the read-your-writes gate and the health monitor, so a pool's <c>MaxPoolSize</c> bounds every connection
/// RoutingSdk opens to it, and the user's data-source configuration applies on every node. Data sources survive
/// configuration reloads and role changes (a node that changes role keeps its connections' type mappings).
/// </summary>
internal sealed class PoolDataSources : IDisposable, IAsyncDisposable
{
    private readonly ConcurrentDictionary<(string Name, string ConnectionString, DataSourceExtras? Extras), Lazy<NpgsqlDataSource>> _sources = new();
    private readonly DataSourceConfiguration[] _configurations;
    private readonly IServiceProvider? _services;
    private int _disposed;

    /// <summary>The cluster these data sources belong to (several clusters configured); <see langword="null"/> otherwise.</summary>
    public string? ClusterName { get; init; }

    public PoolDataSources(IEnumerable<DataSourceConfiguration>? configurations = null, IServiceProvider? services = null)
    {
        _configurations = configurations?.ToArray() ?? [];
        _services = services;
    }

    /// <summary>
    /// The pool's data source; with <paramref name="extras"/>, the one that also carries what another layer declared
    /// (a data source of its own per distinct declaration, so EF Core's enum mappings never change what the ADO.NET
    /// path reads).
    /// </summary>
    public NpgsqlDataSource For(string poolName, string connectionString, DataSourceExtras? extras = null)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _sources.GetOrAdd((poolName, connectionString, extras), key => new Lazy<NpgsqlDataSource>(() => Build(key.Name, key.ConnectionString, key.Extras))).Value;
    }

    /// <summary>The name of a pool's health-check data source (<see cref="RoutingPool.HealthCheckDataSource"/>).</summary>
    public static string HealthCheckName(string poolName) => poolName + " (health checks)";

    /// <summary>
    /// Drops the idle connections of a pool's data sources (if they were ever created), the health monitor's included:
    /// after a demotion or a crash they point at a node that refuses writes or is gone. Connections in use are
    /// discarded when returned.
    /// </summary>
    public void Clear(string poolName, string connectionString)
    {
        var sideName = HealthCheckName(poolName);
        foreach (var (key, source) in _sources)
        {
            if ((key.Name == sideName || (key.Name == poolName && key.ConnectionString == connectionString)) && source.IsValueCreated)
            {
                source.Value.Clear();
            }
        }
    }

    /// <summary>
    /// Retires a node's data sources (its pool left the topology, or its connection string changed): no new
    /// connection is made from them, idle connections close now, and they are disposed after <paramref name="grace"/>
    /// (an attempt that picked the pool just before the change may still open a connection there).
    /// </summary>
    public void Retire(string poolName, string connectionString, TimeSpan grace)
    {
        var sideName = HealthCheckName(poolName);
        foreach (var key in _sources.Keys)
        {
            if ((key.Name == poolName || key.Name == sideName) && (key.ConnectionString == connectionString || key.Name == sideName)
                && _sources.TryRemove(key, out var source) && source.IsValueCreated)
            {
                var retired = source.Value;
                retired.Clear();
                _ = Task.Delay(grace).ContinueWith(static (_, s) => ((NpgsqlDataSource)s!).Dispose(), retired, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Data sources alive now (for tests and diagnostics).</summary>
    public int Count => _sources.Count;

    private NpgsqlDataSource Build(string poolName, string connectionString, DataSourceExtras? extras)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.ConnectionStringBuilder.ApplicationName))
        {
            builder.ConnectionStringBuilder.ApplicationName = "RoutingSdk";
        }

        if (extras is not null)
        {
            var before = builder.ConnectionStringBuilder.ConnectionString;
            try
            {
                extras.Configure(builder);
            }
            catch (Exception ex) when (ex is not RoutingException)
            {
                throw new RoutingConfigurationException(
                    [$"Pool '{poolName}': applying the data-source configuration of {extras.Source} failed ({ex.GetType().Name}: {ex.Message}). Fix it there, or move it to AddQueryRouting(...).ConfigureDataSource."]);
            }

            if (!string.Equals(before, builder.ConnectionStringBuilder.ConnectionString, StringComparison.Ordinal))
            {
                // Each pool's node and credentials come from its pool configuration; a connection setting made for
                // the primary's data source would send a replica pool's connections elsewhere.
                throw new RoutingConfigurationException(
                    [$"Pool '{poolName}': the ConfigureDataSource action of {extras.Source} changes the connection string; RoutingSdk takes every pool's connection string from its pool configuration. " +
                     "Put connection settings in the pools' connection strings, and password or SSL callbacks in AddQueryRouting(...).ConfigureDataSource."]);
            }
        }

        foreach (var configuration in _configurations)
        {
            try
            {
                configuration.Configure(builder, _services);
            }
            catch (Exception ex) when (ex is not RoutingException)
            {
                throw new RoutingConfigurationException(
                    [$"Pool '{poolName}': the ConfigureDataSource callback failed ({ex.GetType().Name}: {ex.Message}). Fix the callback passed to AddQueryRouting(...).ConfigureDataSource."]);
            }
        }

        return builder.Build();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var source in _sources.Values)
        {
            if (source.IsValueCreated)
            {
                source.Value.Dispose();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var source in _sources.Values)
        {
            if (source.IsValueCreated)
            {
                await source.Value.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
