using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>Installs the per-context routing state into EF Core's internal service provider.</summary>
internal sealed class QueryRoutingOptionsExtension : IDbContextOptionsExtension
{
    private ExtensionInfo? _info;

    public DbContextOptionsExtensionInfo Info => _info ??= new ExtensionInfo(this);

    public void ApplyServices(IServiceCollection services)
    {
        // Registered whichever runs first, this or the provider's TryAdd of EF Core's own detector.
        services.RemoveAll<IConcurrencyDetector>();
        services.AddScoped<RoutingContextState>();
        services.AddScoped<IConcurrencyDetector>(sp => sp.GetRequiredService<RoutingContextState>());
        services.AddScoped<IResettableService>(sp => sp.GetRequiredService<RoutingContextState>());
    }

    public void Validate(IDbContextOptions options)
    {
        var core = options.FindExtension<CoreOptionsExtension>();
        if (core is { ThreadSafetyChecksEnabled: false })
        {
            throw new InvalidOperationException(
                "UseQueryRouting cannot be combined with EnableThreadSafetyChecks(false): RoutingSdk relies on EF Core's operation tracking to tell "
                + "queries (routed) from connections you open yourself (kept on the primary). Remove EnableThreadSafetyChecks(false).");
        }

        if (core?.InternalServiceProvider is not null)
        {
            throw new InvalidOperationException(
                "UseQueryRouting cannot be combined with UseInternalServiceProvider: RoutingSdk installs a per-context service into EF Core's internal provider. Remove UseInternalServiceProvider.");
        }
    }

    private sealed class ExtensionInfo(IDbContextOptionsExtension extension) : DbContextOptionsExtensionInfo(extension)
    {
        public override bool IsDatabaseProvider => false;

        public override string LogFragment => "UsingQueryRouting ";

        public override int GetServiceProviderHashCode() => 0;

        public override bool ShouldUseSameServiceProvider(DbContextOptionsExtensionInfo other) => other is ExtensionInfo;

        public override void PopulateDebugInfo(IDictionary<string, string> debugInfo) => debugInfo["RoutingSdk:QueryRouting"] = "1";
    }
}
