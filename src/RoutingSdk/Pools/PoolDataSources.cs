using System.Collections.Concurrent;
using Npgsql;

namespace RoutingSdk.Pools;

/// <summary>A user's configuration of every pool's <see cref="NpgsqlDataSourceBuilder"/> (enums, plugins, logging, password providers).</summary>
internal sealed record DataSourceConfiguration(Action<NpgsqlDataSourceBuilder, IServiceProvider?> Configure);

/// <summary>
/// One <see cref="NpgsqlDataSource"/> per pool (name + effective connection string), shared by EF Core, ADO.NET and
/// Dapper, the read-your-writes gate and the health monitor, so a pool's <c>MaxPoolSize</c> bounds every connection
/// RoutingSdk opens to it, and the user's data-source configuration applies on every node. Data sources survive
/// configuration reloads and role changes (a node that changes role keeps its connections' type mappings).
/// </summary>
internal sealed class PoolDataSources : IDisposable, IAsyncDisposable
{
    private readonly ConcurrentDictionary<(string Name, string ConnectionString), Lazy<NpgsqlDataSource>> _sources = new();
    private readonly DataSourceConfiguration[] _configurations;
    private readonly IServiceProvider? _services;
    private int _disposed;

    public PoolDataSources(IEnumerable<DataSourceConfiguration>? configurations = null, IServiceProvider? services = null)
    {
        _configurations = configurations?.ToArray() ?? [];
        _services = services;
    }

    public NpgsqlDataSource For(string poolName, string connectionString)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _sources.GetOrAdd((poolName, connectionString), key => new Lazy<NpgsqlDataSource>(() => Build(key.Name, key.ConnectionString))).Value;
    }

    /// <summary>
    /// Drops the idle connections of a pool's data source (if it was ever created): after a demotion or a crash they
    /// point at a node that refuses writes or is gone. Connections in use are discarded when returned.
    /// </summary>
    public void Clear(string poolName, string connectionString)
    {
        if (_sources.TryGetValue((poolName, connectionString), out var source) && source.IsValueCreated)
        {
            source.Value.Clear();
        }
    }

    private NpgsqlDataSource Build(string poolName, string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.ConnectionStringBuilder.ApplicationName))
        {
            builder.ConnectionStringBuilder.ApplicationName = "RoutingSdk";
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
