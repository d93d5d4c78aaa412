using Castle.DynamicProxy;
using Microsoft.Extensions.Logging;

namespace RoutingSdk.DependencyInjection.Interception;

/// <summary>Sets the routing scope around each call of a routed service method.</summary>
internal sealed partial class RoutingInterceptor(ILogger<RoutingInterceptor> logger) : IInterceptor
{
    public void Intercept(IInvocation invocation)
    {
        var implementation = invocation.MethodInvocationTarget ?? invocation.Method;
        var interfaceMethod = invocation.Method.DeclaringType is { IsInterface: true } ? invocation.Method : null;
        var route = RouteResolver.Resolve(implementation, interfaceMethod);
        if (route is null)
        {
            invocation.Proceed();
            return;
        }

        // Task/ValueTask methods: the target starts inside the scope and its continuations keep the route they
        // captured; disposing right after Proceed returns the caller's own route to it.
        using var scope = route.Begin();
        invocation.Proceed();
        switch (route.Shape)
        {
            case ResultShape.AsyncEnumerable or ResultShape.Enumerable when invocation.ReturnValue is not null:
                invocation.ReturnValue = route.Wrap!(invocation.ReturnValue, route);
                break;
            case ResultShape.Queryable when Interlocked.Exchange(ref route.QueryableWarned, 1) == 0:
                DeferredQuery(logger, route.Scenario, route.Route);
                break;
        }
    }

    [LoggerMessage(20, LogLevel.Warning,
        "{Scenario} returns an IQueryable: it runs when the caller enumerates it, after the {Route} scope has ended, under the caller's route. " +
        "Materialize it inside the method (ToList/ToListAsync) or return IAsyncEnumerable. (Analyzer rule QR0005.)")]
    private static partial void DeferredQuery(ILogger logger, string scenario, RouteKind route);
}
