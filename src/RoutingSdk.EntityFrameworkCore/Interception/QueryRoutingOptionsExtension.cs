using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql.EntityFrameworkCore.PostgreSQL.Storage.Internal;
using RoutingSdk.EntityFrameworkCore.Retry;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// Carries the routing core of one application into a context's options, and installs the per-context routing
/// state and the read-retry execution strategy into EF Core's internal service provider.
/// </summary>
internal sealed class QueryRoutingOptionsExtension(EfRoutingCore core) : IDbContextOptionsExtension
{
    private ExtensionInfo? _info;

    public EfRoutingCore Core { get; } = core;

    public DbContextOptionsExtensionInfo Info => _info ??= new ExtensionInfo(this);

    public void ApplyServices(IServiceCollection services)
    {
        // Registered whichever runs first, this or the provider's TryAdd of EF Core's own services.
        services.RemoveAll<IConcurrencyDetector>();
        services.AddScoped<RoutingContextState>();
        services.AddScoped<IConcurrencyDetector>(sp => sp.GetRequiredService<RoutingContextState>());
        services.AddScoped<IResettableService>(sp => sp.GetRequiredService<RoutingContextState>());

        // RoutingSdk's per-command work runs in its own RelationalCommand, not in a command interceptor (whose event data
        // EF Core creates for every command event once one is registered).
        services.RemoveAll<IRelationalCommandBuilderFactory>();
        services.AddSingleton<IRelationalCommandBuilderFactory, RoutingRelationalCommandBuilderFactory>();

        // Each open chooses its node in RoutingSdk's relational connection, not in a connection interceptor (whose
        // event data EF Core creates for every open and close once one is registered).
#pragma warning disable EF1001
        services.RemoveAll<INpgsqlRelationalConnection>();
        services.AddScoped<INpgsqlRelationalConnection, RoutingRelationalConnection>();
#pragma warning restore EF1001

#pragma warning disable EF1001 // The provider's factory is wrapped, so a user's EnableRetryOnFailure still applies around read retry.
        services.RemoveAll<IExecutionStrategyFactory>();
        services.AddScoped<IExecutionStrategyFactory>(sp => new RoutingExecutionStrategyFactory(
            sp.GetRequiredService<ExecutionStrategyDependencies>(), static d => new NpgsqlExecutionStrategyFactory(d), sp.GetRequiredService<RoutingContextState>()));
#pragma warning restore EF1001
    }

    public void Validate(IDbContextOptions options)
    {
        var coreOptions = options.FindExtension<CoreOptionsExtension>();
        if (coreOptions is { ThreadSafetyChecksEnabled: false })
        {
            throw new InvalidOperationException(
                "UseQueryRouting cannot be combined with EnableThreadSafetyChecks(false): RoutingSdk relies on EF Core's operation tracking to tell "
                + "queries (routed) from connections you open yourself (kept on the primary). Remove EnableThreadSafetyChecks(false).");
        }

        if (coreOptions?.ReplacedServices?.Keys.Any(k => k.Item1 == typeof(IRelationalCommandBuilderFactory)) == true)
        {
            throw new InvalidOperationException(
                "UseQueryRouting cannot be combined with ReplaceService<IRelationalCommandBuilderFactory, ...>: RoutingSdk runs its per-command checks "
                + "(no write on a replica, .OnPrimary(), the commit timeout) in its own relational command, which that replacement would remove. "
                + "Use a DbCommandInterceptor for your own per-command work instead.");
        }

#pragma warning disable EF1001
        if (coreOptions?.ReplacedServices?.Keys.Any(k => k.Item1 == typeof(IRelationalConnection) || k.Item1 == typeof(INpgsqlRelationalConnection)) == true)
#pragma warning restore EF1001
        {
            throw new InvalidOperationException(
                "UseQueryRouting cannot be combined with ReplaceService<IRelationalConnection, ...> or ReplaceService<INpgsqlRelationalConnection, ...>: "
                + "RoutingSdk chooses each connection's node in its own relational connection, which that replacement would remove. "
                + "Use a DbConnectionInterceptor for your own per-connection work instead.");
        }

        if (coreOptions?.InternalServiceProvider is not null)
        {
            throw new InvalidOperationException(
                "UseQueryRouting cannot be combined with UseInternalServiceProvider: RoutingSdk installs per-context services into EF Core's internal provider. Remove UseInternalServiceProvider.");
        }
    }

    /// <summary>The routing core bound to a context.</summary>
    public static EfRoutingCore For(DbContext context) =>
        context.GetService<IDbContextOptions>().FindExtension<QueryRoutingOptionsExtension>()?.Core
        ?? throw new RoutingException($"{context.GetType().Name} was not configured with UseQueryRouting.");

    private sealed class ExtensionInfo(IDbContextOptionsExtension extension) : DbContextOptionsExtensionInfo(extension)
    {
        public override bool IsDatabaseProvider => false;

        public override string LogFragment => "UsingQueryRouting ";

        // The internal provider holds no per-application state (the core is read from each context's options), so one is shared.
        public override int GetServiceProviderHashCode() => 0;

        public override bool ShouldUseSameServiceProvider(DbContextOptionsExtensionInfo other) => other is ExtensionInfo;

        public override void PopulateDebugInfo(IDictionary<string, string> debugInfo) => debugInfo["RoutingSdk:QueryRouting"] = "1";
    }

    /// <summary>
    /// A command's connection is not RoutingSdk's: an extension registered after UseQueryRouting installed its own
    /// IRelationalConnection, which would open every connection where its connection string points.
    /// </summary>
    public static InvalidOperationException ForeignConnection(DbContext context) =>
        new($"{context.GetType().Name}'s IRelationalConnection is not RoutingSdk's: another options extension or ReplaceService installed its own after UseQueryRouting. "
            + "RoutingSdk chooses each connection's node in its relational connection; without it every statement would run where the connection string points. "
            + "Remove the other replacement, or use a DbConnectionInterceptor for its per-connection work.");

    /// <summary>
    /// Once per context: RoutingSdk's per-command checks live in its relational command; an extension registered after
    /// UseQueryRouting that installs its own IRelationalCommandBuilderFactory would remove them without a word.
    /// </summary>
    public static void EnsureRoutingCommands(DbContext context, RoutingContextState state)
    {
        if (state.CommandsVerified)
        {
            return;
        }

        if (context.GetService<Microsoft.EntityFrameworkCore.Storage.IRelationalCommandBuilderFactory>() is not RoutingRelationalCommandBuilderFactory)
        {
            throw new InvalidOperationException(
                $"{context.GetType().Name}'s IRelationalCommandBuilderFactory is not RoutingSdk's: another options extension or ReplaceService installed its own after UseQueryRouting. "
                + "RoutingSdk runs its per-command checks (no write on a replica, .OnPrimary(), the commit timeout) in its relational command; without it they would be skipped. "
                + "Remove the other replacement, or use a DbCommandInterceptor for its per-command work.");
        }

        state.CommandsVerified = true;
    }
}
