using System.Collections.Concurrent;
using System.Reflection;

namespace RoutingSdk.DependencyInjection.Interception;

/// <summary>How a method's result must be handled so that its queries run inside the route.</summary>
internal enum ResultShape
{
    Plain,
    AsyncEnumerable,
    Enumerable,
    Queryable,
}

/// <summary>The resolved route of one implementation method, cached.</summary>
internal sealed class MethodRoute
{
    public required RouteKind Route { get; init; }

    public required RoutingCategory Category { get; init; }

    public required string Scenario { get; init; }

    public int? MaxLagMilliseconds { get; init; }

    public required ResultShape Shape { get; init; }

    public Type? ElementType { get; init; }

    public Func<object, MethodRoute, object>? Wrap { get; init; }

    /// <summary>Set once the IQueryable warning was logged for this method.</summary>
    public int QueryableWarned;

    public RoutingScope Begin() => RoutingScope.Begin(Route, Scenario, Category, MaxLagMilliseconds);
}

/// <summary>Finds the routing attribute of a call. Precedence: implementation method &gt; interface method &gt; implementation class &gt; interface.</summary>
internal static class RouteResolver
{
    private static readonly ConcurrentDictionary<(MethodInfo Method, MethodInfo? InterfaceMethod), MethodRoute?> Cache = new();

    public static MethodRoute? Resolve(MethodInfo implementationMethod, MethodInfo? interfaceMethod) =>
        Cache.GetOrAdd((implementationMethod, interfaceMethod), static key => Build(key.Method, key.InterfaceMethod));

    public static RoutingAttribute? FindAttribute(MethodInfo implementationMethod, MethodInfo? interfaceMethod) =>
        implementationMethod.GetCustomAttribute<RoutingAttribute>(inherit: false)
        ?? interfaceMethod?.GetCustomAttribute<RoutingAttribute>(inherit: false)
        ?? implementationMethod.ReflectedType?.GetCustomAttribute<RoutingAttribute>(inherit: false)
        ?? interfaceMethod?.DeclaringType?.GetCustomAttribute<RoutingAttribute>(inherit: false);

    private static MethodRoute? Build(MethodInfo method, MethodInfo? interfaceMethod)
    {
        var attribute = FindAttribute(method, interfaceMethod);
        if (attribute is null)
        {
            return null;
        }

        var (shape, element) = ShapeOf(method.ReturnType);
        return new MethodRoute
        {
            Route = attribute.Route,
            Category = attribute.Category,
            Scenario = attribute.Scenario ?? $"{(method.ReflectedType ?? method.DeclaringType)!.Name}.{method.Name}",
            MaxLagMilliseconds = attribute is AsyncReplicaAttribute { MaxLagMilliseconds: > 0 } a ? a.MaxLagMilliseconds : null,
            Shape = shape,
            ElementType = element,
            Wrap = shape switch
            {
                ResultShape.AsyncEnumerable => CreateWrapper(nameof(RoutedSequences.WrapAsync), element!),
                ResultShape.Enumerable => CreateWrapper(nameof(RoutedSequences.Wrap), element!),
                _ => null,
            },
        };
    }

    private static (ResultShape, Type?) ShapeOf(Type type)
    {
        if (type.IsGenericType)
        {
            var definition = type.GetGenericTypeDefinition();
            var argument = type.GetGenericArguments()[0];
            if (definition == typeof(IAsyncEnumerable<>))
            {
                return (ResultShape.AsyncEnumerable, argument);
            }

            if (definition == typeof(IQueryable<>) || definition == typeof(IOrderedQueryable<>))
            {
                return (ResultShape.Queryable, argument);
            }

            if (definition == typeof(IEnumerable<>))
            {
                return (ResultShape.Enumerable, argument);
            }
        }

        return (ResultShape.Plain, null);
    }

    private static Func<object, MethodRoute, object> CreateWrapper(string name, Type element) =>
        typeof(RoutedSequences).GetMethod(name, BindingFlags.Public | BindingFlags.Static)!
            .MakeGenericMethod(element)
            .CreateDelegate<Func<object, MethodRoute, object>>();
}
