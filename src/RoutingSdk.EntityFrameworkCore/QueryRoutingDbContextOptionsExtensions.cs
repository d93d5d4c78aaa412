using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using RoutingSdk;
using RoutingSdk.EntityFrameworkCore.Interception;
using RoutingSdk.Routing;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Entry point of RoutingSdk for EF Core.</summary>
public static class QueryRoutingDbContextOptionsExtensions
{
    private static readonly ConditionalWeakTable<QueryRouter, IInterceptor[]> Interceptors = new();

    /// <summary>
    /// Routes every operation of this context: writes and transactions to the primary, reads outside transactions
    /// per the current route. Call it after <c>UseNpgsql(&lt;primary connection string&gt;)</c>; works with
    /// <c>AddDbContext</c>, <c>AddDbContextPool</c> and <c>AddPooledDbContextFactory</c>.
    /// </summary>
    /// <param name="optionsBuilder">The context's options.</param>
    /// <param name="serviceProvider">The application's service provider, where <c>AddQueryRouting</c> registered the router.</param>
    /// <exception cref="InvalidOperationException"><c>AddQueryRouting</c> was not called.</exception>
    public static DbContextOptionsBuilder UseQueryRouting(this DbContextOptionsBuilder optionsBuilder, IServiceProvider serviceProvider)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(serviceProvider);
        var router = serviceProvider.GetService<QueryRouter>()
            ?? throw new InvalidOperationException(
                "UseQueryRouting needs RoutingSdk's services: call services.AddQueryRouting(...) when you configure the service collection.");

        var interceptors = Interceptors.GetValue(router, static r =>
        {
            var core = new EfRoutingCore(r);
            return
            [
                new RoutingConnectionInterceptor(core), new RoutingCommandInterceptor(),
                new RoutingSaveChangesInterceptor(), new RoutingTransactionInterceptor(),
            ];
        });

        var extension = optionsBuilder.Options.FindExtension<QueryRoutingOptionsExtension>() ?? new QueryRoutingOptionsExtension();
        ((IDbContextOptionsBuilderInfrastructure)optionsBuilder).AddOrUpdateExtension(extension);
        if (!optionsBuilder.Options.Extensions.OfType<CoreOptionsExtension>().Any(e => e.Interceptors?.Contains(interceptors[0]) == true))
        {
            optionsBuilder.AddInterceptors(interceptors);
        }

        return optionsBuilder;
    }

    /// <summary>Generic overload of <see cref="UseQueryRouting(DbContextOptionsBuilder, IServiceProvider)"/>.</summary>
    public static DbContextOptionsBuilder<TContext> UseQueryRouting<TContext>(this DbContextOptionsBuilder<TContext> optionsBuilder, IServiceProvider serviceProvider)
        where TContext : DbContext =>
        (DbContextOptionsBuilder<TContext>)UseQueryRouting((DbContextOptionsBuilder)optionsBuilder, serviceProvider);
}
