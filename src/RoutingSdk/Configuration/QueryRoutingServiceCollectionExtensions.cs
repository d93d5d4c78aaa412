using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RoutingSdk;
using RoutingSdk.Configuration;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Entry points of RoutingSdk on <see cref="IServiceCollection"/>.</summary>
public static class QueryRoutingServiceCollectionExtensions
{
    /// <summary>Adds query routing configured in code. Options are validated when the host starts.</summary>
    /// <returns>A builder that the EF Core and DI packages extend.</returns>
    public static IQueryRoutingBuilder AddQueryRouting(this IServiceCollection services, Action<RoutingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.Configure(configure);
        return AddCore(services);
    }

    /// <summary>
    /// Adds query routing bound to a configuration section (e.g. <c>configuration.GetSection("Routing")</c>).
    /// Changes to the section (overrides, weights) apply to the next decision without restart; an invalid change is
    /// rejected with an error log and the previous configuration stays in force.
    /// </summary>
    public static IQueryRoutingBuilder AddQueryRouting(this IServiceCollection services, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        services.Configure<RoutingOptions>(section, binder => binder.ErrorOnUnknownConfiguration = true);
        services.AddSingleton(new RoutingConfigurationSection(section));
        return AddCore(services);
    }

    private static QueryRoutingBuilder AddCore(IServiceCollection services)
    {
        services.AddOptions<RoutingOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidator>());
        // One cluster: the router, its health and data sources and its monitor are these registrations, and ClusterSet
        // wraps them. Several clusters: ClusterSet makes one of each per cluster, and these registrations answer with
        // the fallback cluster's (the default cluster, else the first), for code that asks for "the" router.
        services.TryAddSingleton(sp => new RoutingSdk.Tenants.ClusterSet(sp));
        services.TryAddSingleton(sp => Multi(sp) is { } set ? set.Fallback.Registry! : new PoolHealthRegistry());
        services.TryAddSingleton(sp => Multi(sp) is { } set ? set.Fallback.Router : ActivatorUtilities.CreateInstance<QueryRouter>(sp));
        services.TryAddSingleton(sp => Multi(sp) is { } set ? set.Fallback.DataSources! : new PoolDataSources(sp.GetServices<DataSourceConfiguration>(), sp));
        services.TryAddSingleton(sp => new RoutingPools(sp.GetRequiredService<RoutingSdk.Tenants.ClusterSet>()));
        services.TryAddSingleton(sp => new RoutingDataSource(sp.GetRequiredService<RoutingSdk.Tenants.ClusterSet>()));
        services.TryAddSingleton(sp => new RoutingTenants(sp.GetRequiredService<RoutingSdk.Tenants.ClusterSet>()));
        services.TryAddSingleton(sp => Multi(sp) is { } set ? set.Fallback.Monitor! : ActivatorUtilities.CreateInstance<RoutingSdk.Health.PoolHealthMonitor>(sp));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, RoutingSdk.Health.PoolHealthMonitor>(
            sp => sp.GetRequiredService<RoutingSdk.Health.PoolHealthMonitor>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, RoutingSdk.Tenants.ClusterSet>(
            sp => sp.GetRequiredService<RoutingSdk.Tenants.ClusterSet>()));
        services.AddLogging();
        return new QueryRoutingBuilder(services);
    }

    private static RoutingSdk.Tenants.ClusterSet? Multi(IServiceProvider services) =>
        RoutingSdk.Tenants.ClusterSet.IsMultiCluster(services.GetRequiredService<IOptionsMonitor<RoutingOptions>>().CurrentValue)
            ? services.GetRequiredService<RoutingSdk.Tenants.ClusterSet>()
            : null;
}

/// <summary>Returned by <c>AddQueryRouting</c>; the EF Core and DI packages add their registrations to it.</summary>
public interface IQueryRoutingBuilder
{
    /// <summary>The service collection being configured.</summary>
    IServiceCollection Services { get; }
}

internal sealed class QueryRoutingBuilder(IServiceCollection services) : IQueryRoutingBuilder
{
    public IServiceCollection Services { get; } = services;
}

/// <summary>Configuration imports on <see cref="IQueryRoutingBuilder"/>.</summary>
public static class QueryRoutingBuilderConfigurationExtensions
{
    /// <summary>
    /// Adds the pools of a Global ERP <c>global3config.xml</c> (<c>extraConnectionPools</c>). The file is read now,
    /// so a missing or malformed file fails at registration with its line; import warnings are logged at start.
    /// </summary>
    public static IQueryRoutingBuilder AddGlobalErpConfiguration(this IQueryRoutingBuilder builder, string path, string? databaseAlias = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var result = GlobalErpConfiguration.Load(path, databaseAlias);
        builder.Services.Configure<RoutingOptions>(options => options.Pools.AddRange(result.Pools.Select(Clone)));
        foreach (var warning in result.Warnings)
        {
            builder.Services.AddSingleton(new RoutingConfigurationWarning(warning));
        }

        return builder;
    }

    private static RoutingPoolOptions Clone(RoutingPoolOptions p) => new()
    {
        Name = p.Name, ConnectionString = p.ConnectionString, Role = p.Role, AcceptTxSession = p.AcceptTxSession,
        AcceptNoTxSession = p.AcceptNoTxSession, Priority = p.Priority, UsageRatio = p.UsageRatio, MinPoolSize = p.MinPoolSize,
        MaxPoolSize = p.MaxPoolSize, PoolTimeoutSeconds = p.PoolTimeoutSeconds,
        InactiveConnectionTimeoutSeconds = p.InactiveConnectionTimeoutSeconds, PruningIntervalSeconds = p.PruningIntervalSeconds,
    };
}

/// <summary>Configuration of the pools' Npgsql data sources on <see cref="IQueryRoutingBuilder"/>.</summary>
public static class QueryRoutingBuilderDataSourceExtensions
{
    /// <summary>
    /// Configures the <see cref="Npgsql.NpgsqlDataSourceBuilder"/> of every pool: enum mappings, plugins (NodaTime,
    /// NetTopologySuite), password providers, logging. RoutingSdk keeps one data source per pool, shared by EF Core,
    /// <see cref="RoutingDataSource"/>, the health monitor and read-your-writes, so what you configure here works on
    /// every node. With EF Core, also declare the mapping on the EF side (<c>UseNpgsql(..., o =&gt; o.MapEnum&lt;T&gt;())</c>).
    /// </summary>
    public static IQueryRoutingBuilder ConfigureDataSource(this IQueryRoutingBuilder builder, Action<Npgsql.NpgsqlDataSourceBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddSingleton(new DataSourceConfiguration((b, _) => configure(b)));
        return builder;
    }

    /// <summary>As <see cref="ConfigureDataSource(IQueryRoutingBuilder, Action{Npgsql.NpgsqlDataSourceBuilder})"/>, with the application's services (e.g. its <c>ILoggerFactory</c>).</summary>
    public static IQueryRoutingBuilder ConfigureDataSource(this IQueryRoutingBuilder builder, Action<Npgsql.NpgsqlDataSourceBuilder, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddSingleton(new DataSourceConfiguration((b, sp) => configure(b, sp ?? throw new InvalidOperationException("No service provider."))));
        return builder;
    }
}

internal sealed record RoutingConfigurationWarning(string Message);

/// <summary>The configuration section routing is bound to, watched so that a reload that cannot be bound is logged.</summary>
internal sealed record RoutingConfigurationSection(IConfiguration Section);
