using Npgsql;

namespace RoutingSdk.Pools;

/// <summary>An immutable, validated pool: the runtime form of <see cref="RoutingPoolOptions"/>.</summary>
internal sealed class RoutingPool
{
    private readonly PoolDataSources? _dataSources;
    private NpgsqlDataSource? _dataSource;

    public RoutingPool(RoutingPoolOptions options, string effectiveConnectionString, PoolHealth health, PoolDataSources? dataSources = null)
    {
        _dataSources = dataSources;
        Name = options.Name;
        Role = options.Role;
        AcceptTxSession = options.EffectiveAcceptTxSession;
        AcceptNoTxSession = options.EffectiveAcceptNoTxSession;
        Priority = options.Priority;
        UsageRatio = options.UsageRatio;
        ConnectionString = effectiveConnectionString;
        Health = health;
        Endpoint = DescribeEndpoint(effectiveConnectionString);
        DisplayName = $"{Name} ({Endpoint})";
    }

    /// <summary>Host, port and database, never credentials.</summary>
    public string Endpoint { get; }

    public string Name { get; }

    public PoolRole Role { get; }

    public bool AcceptTxSession { get; }

    public bool AcceptNoTxSession { get; }

    public int Priority { get; }

    public double UsageRatio { get; }

    /// <summary>The connection string with the pool's sizing applied. Never log it: it may hold a password.</summary>
    public string ConnectionString { get; }

    /// <summary>Name and endpoint without credentials, safe for logs and messages.</summary>
    public string DisplayName { get; }

    public PoolHealth Health { get; }

    /// <summary>The pool's one data source, shared by every component (created on first use).</summary>
    public NpgsqlDataSource DataSource => _dataSource ??= (_dataSources ?? throw new InvalidOperationException($"Pool '{Name}' was built without data sources."))
        .For(Name, ConnectionString);

    /// <summary>The pool's data source carrying <paramref name="extras"/> as well (the shared one without).</summary>
    public NpgsqlDataSource DataSourceFor(DataSourceExtras? extras) => extras is null ? DataSource
        : (_dataSources ?? throw new InvalidOperationException($"Pool '{Name}' was built without data sources.")).For(Name, ConnectionString, extras);

    public override string ToString() => DisplayName;

    private static string DescribeEndpoint(string connectionString)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{csb.Host}:{csb.Port}/{csb.Database}";
    }
}
