using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoutingSdk;
using RoutingSdk.Consistency;
using RoutingSdk.EntityFrameworkCore.Interception;
using RoutingSdk.Routing;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Entry point of RoutingSdk for EF Core.</summary>
public static class QueryRoutingDbContextOptionsExtensions
{
    private static readonly ConditionalWeakTable<RoutingSdk.Tenants.ClusterSet, Binding> Bindings = new();

    /// <summary>
    /// Routes every operation of this context: writes and transactions to the primary, reads outside transactions
    /// per the current route, cancelled replica reads retried. Call it after <c>UseNpgsql(&lt;primary connection string&gt;)</c>;
    /// works with <c>AddDbContext</c>, <c>AddDbContextPool</c> and <c>AddPooledDbContextFactory</c>.
    /// </summary>
    /// <param name="optionsBuilder">The context's options.</param>
    /// <param name="serviceProvider">The application's service provider, where <c>AddQueryRouting</c> registered the router.</param>
    /// <exception cref="InvalidOperationException"><c>AddQueryRouting</c> was not called.</exception>
    public static DbContextOptionsBuilder UseQueryRouting(this DbContextOptionsBuilder optionsBuilder, IServiceProvider serviceProvider)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(serviceProvider);
        var router = serviceProvider.GetService<RoutingSdk.Tenants.ClusterSet>()
            ?? throw new InvalidOperationException(
                "UseQueryRouting needs RoutingSdk's services: call services.AddQueryRouting(...) when you configure the service collection.");

        var binding = Bindings.GetValue(router, r =>
        {
            var core = new EfRoutingCore(
                r,
                serviceProvider.GetServices<IRouteDecisionObserver>(),
                serviceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("RoutingSdk.EntityFrameworkCore"));
            return new Binding(
                new QueryRoutingOptionsExtension(core),
                [new RoutingSaveChangesInterceptor(core), new RoutingTransactionInterceptor(core)]);
        });

        ((IDbContextOptionsBuilderInfrastructure)optionsBuilder).AddOrUpdateExtension(binding.Extension);
        if (!optionsBuilder.Options.Extensions.OfType<CoreOptionsExtension>().Any(e => e.Interceptors?.Contains(binding.Interceptors[0]) == true))
        {
            optionsBuilder.AddInterceptors(binding.Interceptors);
        }

        return optionsBuilder;
    }

    /// <summary>Generic overload of <see cref="UseQueryRouting(DbContextOptionsBuilder, IServiceProvider)"/>.</summary>
    public static DbContextOptionsBuilder<TContext> UseQueryRouting<TContext>(this DbContextOptionsBuilder<TContext> optionsBuilder, IServiceProvider serviceProvider)
        where TContext : DbContext =>
        (DbContextOptionsBuilder<TContext>)UseQueryRouting((DbContextOptionsBuilder)optionsBuilder, serviceProvider);

    private sealed record Binding(QueryRoutingOptionsExtension Extension, IInterceptor[] Interceptors);
}
