using Npgsql;

namespace RoutingSdk.Pools;

/// <summary>An immutable, validated pool: the runtime form of <see cref="RoutingPoolOptions"/>.</summary>
internal sealed class RoutingPool
{
    private readonly PoolDataSources? _dataSources;
    private NpgsqlDataSource? _dataSource;
    private NpgsqlDataSource? _healthCheckDataSource;

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
    /// <summary>The cluster of the pool (several clusters configured); <see langword="null"/> otherwise.</summary>
    public string? Cluster => _dataSources?.ClusterName;

    public NpgsqlDataSource DataSource => _dataSource ??= (_dataSources ?? throw new InvalidOperationException($"Pool '{Name}' was built without data sources."))
        .For(Name, ConnectionString);

    /// <summary>
    /// The health monitor's own data source for this node: the pool's connection string and data-source configuration
    /// (credentials, password providers, SSL callbacks: what the checks see is what the application gets), but a pool
    /// of its own of one connection, named apart in <c>pg_stat_activity</c> ("RoutingSdk health check"), kept open across
    /// rounds and never reset (the checks change no session state, so no <c>DISCARD ALL</c> per round). It is the one
    /// connection per node that RoutingSdk may hold beyond <c>MaxPoolSize</c>.
    /// </summary>
    /// <remarks>
    /// Not the application's pool: Npgsql hands out idle connections first-in first-out, so a check that borrowed one
    /// while a query held another left a second idle connection there, and from then on the application's queries
    /// alternated between two server backends for as long as the pool lived; nor can a full application pool delay a check.
    /// </remarks>
    public NpgsqlDataSource HealthCheckDataSource => _healthCheckDataSource ??= (_dataSources ?? throw new InvalidOperationException($"Pool '{Name}' was built without data sources."))
        .For(PoolDataSources.HealthCheckName(Name), HealthCheckConnectionString(ConnectionString));

    private static string HealthCheckConnectionString(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = 1,
            MinPoolSize = 1, // never pruned: one physical connection per node for the monitor's lifetime
            NoResetOnClose = true,
            ApplicationName = "RoutingSdk health check",
        }.ConnectionString;

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
