using System.Reflection;
using Castle.DynamicProxy;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RoutingSdk;
using RoutingSdk.DependencyInjection.Interception;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers services whose <c>[ReadReplica]</c>, <c>[MasterOnly]</c> and <c>[AsyncReplica]</c> attributes take effect through a proxy.</summary>
public static class RoutedServiceBuilderExtensions
{
    private static readonly ProxyGenerator Generator = new();
    private static readonly ProxyGenerationOptions ProxyOptions = new();

    /// <summary>
    /// Registers <typeparamref name="TImplementation"/> as <typeparamref name="TService"/> behind a routing proxy: an
    /// interface proxy with target when <typeparamref name="TService"/> is an interface, else a class proxy.
    /// The bare implementation is not resolvable around the proxy; DI still disposes it.
    /// </summary>
    /// <exception cref="RoutingConfigurationException">A routed member cannot be intercepted; the message lists each one with the fix.</exception>
    public static IQueryRoutingBuilder AddRoutedService<TService, TImplementation>(this IQueryRoutingBuilder builder, ServiceLifetime lifetime = ServiceLifetime.Scoped)
        where TService : class
        where TImplementation : class, TService
    {
        ArgumentNullException.ThrowIfNull(builder);
        Register(builder.Services, [typeof(TService)], typeof(TImplementation), lifetime);
        return builder;
    }

    /// <summary>
    /// Registers every concrete type of <paramref name="assembly"/> that has a routing attribute on itself, its methods,
    /// or its interfaces and their members: under each of its own interfaces (interface proxies), or as itself when it
    /// implements none (class proxy).
    /// </summary>
    /// <exception cref="RoutingConfigurationException">A routed member cannot be intercepted; every such member of every type is listed.</exception>
    public static IQueryRoutingBuilder AddRoutedServicesFromAssembly(this IQueryRoutingBuilder builder, Assembly assembly, ServiceLifetime lifetime = ServiceLifetime.Scoped)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(assembly);
        var problems = new List<string>();
        var registrations = new List<(Type[] Services, Type Implementation)>();
        foreach (var type in assembly.GetTypes().Where(t => t is { IsClass: true, IsAbstract: false, IsGenericTypeDefinition: false } && !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute))))
        {
            var interfaces = OwnInterfaces(type);
            if (!HasRoutingAttribute(type, interfaces))
            {
                continue;
            }

            var services = interfaces.Length > 0 ? interfaces : [type];
            problems.AddRange(Validate(services, type));
            registrations.Add((services, type));
        }

        if (problems.Count > 0)
        {
            throw new RoutingConfigurationException(problems);
        }

        foreach (var (services, implementation) in registrations)
        {
            Register(builder.Services, services, implementation, lifetime);
        }

        return builder;
    }

    private static void Register(IServiceCollection services, Type[] serviceTypes, Type implementation, ServiceLifetime lifetime)
    {
        var problems = Validate(serviceTypes, implementation);
        if (problems.Count > 0)
        {
            throw new RoutingConfigurationException(problems);
        }

        services.TryAddSingleton<RoutingInterceptor>();
        if (serviceTypes is [var only] && only == implementation)
        {
            // Class proxy: the proxy is the instance, so DI creates, owns and disposes it.
            services.Add(new ServiceDescriptor(implementation, sp => CreateClassProxy(sp, implementation), lifetime));
            return;
        }

        // Interface proxies with target: the target is a keyed service under a key nobody else holds, so it is not
        // resolvable around the proxy, and DI disposes it with its scope.
        var targetKey = new object();
        services.Add(new ServiceDescriptor(implementation, targetKey, implementation, lifetime));
        foreach (var serviceType in serviceTypes)
        {
            services.Add(new ServiceDescriptor(serviceType, sp =>
                Generator.CreateInterfaceProxyWithTarget(serviceType, sp.GetRequiredKeyedService(implementation, targetKey), ProxyOptions, sp.GetRequiredService<RoutingInterceptor>()), lifetime));
        }
    }

    private static object CreateClassProxy(IServiceProvider sp, Type implementation)
    {
        // Ask whether a parameter is resolvable without resolving it: resolving here and again below would build a
        // transient dependency twice (and leave the first copy to the scope).
        var isService = sp.GetService<IServiceProviderIsService>();
        bool CanResolve(Type type) => IsServiceProviderType(type) || (isService is not null ? isService.IsService(type) : sp.GetService(type) is not null);
        var constructor = implementation.GetConstructors().OrderByDescending(c => c.GetParameters().Length)
            .FirstOrDefault(c => c.GetParameters().All(p => p.HasDefaultValue || CanResolve(p.ParameterType)))
            ?? throw new InvalidOperationException($"No public constructor of {implementation.Name} can be satisfied from the service provider; register its dependencies.");
        var arguments = constructor.GetParameters()
            .Select(p => IsServiceProviderType(p.ParameterType) ? sp : sp.GetService(p.ParameterType) ?? p.DefaultValue)
            .ToArray();
        return Generator.CreateClassProxy(implementation, ProxyOptions, arguments, sp.GetRequiredService<RoutingInterceptor>());
    }

    private static bool IsServiceProviderType(Type type) => type == typeof(IServiceProvider);

    private static Type[] OwnInterfaces(Type type) =>
        type.GetInterfaces().Where(i => i.Namespace is null || !i.Namespace.StartsWith("System", StringComparison.Ordinal)).ToArray();

    private static bool HasRoutingAttribute(Type type, Type[] interfaces) =>
        type.IsDefined(typeof(RoutingAttribute), false)
        || type.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly).Any(m => m.IsDefined(typeof(RoutingAttribute), false))
        || interfaces.Any(i => i.IsDefined(typeof(RoutingAttribute), false) || i.GetMethods().Any(m => m.IsDefined(typeof(RoutingAttribute), false)));

    /// <summary>Every routed member that a proxy cannot intercept, each with its fix.</summary>
    internal static List<string> Validate(Type[] serviceTypes, Type implementation)
    {
        var problems = new List<string>();
        var name = implementation.Name;
        const BindingFlags all = BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        var classRouted = implementation.IsDefined(typeof(RoutingAttribute), false);

        foreach (var method in implementation.GetMethods(all).Where(m => !m.IsSpecialName || m.IsDefined(typeof(RoutingAttribute), false)))
        {
            if (method.IsStatic && method.IsDefined(typeof(RoutingAttribute), false))
            {
                problems.Add($"{name}.{method.Name}: a static method cannot be intercepted; remove the attribute or call it inside RoutingScope.Begin(...).");
            }
        }

        if (serviceTypes is [var single] && single == implementation)
        {
            if (implementation.IsSealed)
            {
                problems.Add($"{name}: a sealed class without an interface cannot be proxied; remove 'sealed' or register it through an interface (AddRoutedService<I{name}, {name}>).");
                return problems;
            }

            foreach (var method in implementation.GetMethods(all).Where(m => !m.IsStatic && !m.IsSpecialName && m.DeclaringType != typeof(object)))
            {
                var routed = method.IsDefined(typeof(RoutingAttribute), false) || (classRouted && method.IsPublic);
                if (!routed)
                {
                    continue;
                }

                if (!method.IsPublic && !method.IsFamily && !method.IsFamilyOrAssembly)
                {
                    problems.Add($"{name}.{method.Name}: a {(method.IsPrivate ? "private" : "internal")} method cannot be intercepted; make it public virtual or remove the attribute.");
                }
                else if (!method.IsVirtual || method.IsFinal)
                {
                    problems.Add($"{name}.{method.Name}: a non-virtual method on a class proxy cannot be intercepted; make it virtual, or register {name} through an interface.");
                }
            }

            return problems;
        }

        // Interface proxies: only members of the proxied interfaces can take effect.
        var mapped = new HashSet<MethodInfo>();
        foreach (var serviceType in serviceTypes)
        {
            if (!serviceType.IsInterface)
            {
                problems.Add($"{name}: service type {serviceType.Name} is a class; register it through an interface, or as AddRoutedService<{name}, {name}>() for a class proxy.");
                continue;
            }

            foreach (var iface in new[] { serviceType }.Concat(serviceType.GetInterfaces()))
            {
                var map = implementation.GetInterfaceMap(iface);
                mapped.UnionWith(map.TargetMethods);
            }
        }

        foreach (var method in implementation.GetMethods(all).Where(m => !m.IsStatic && m.IsDefined(typeof(RoutingAttribute), false) && !mapped.Contains(m)))
        {
            problems.Add($"{name}.{method.Name}: the attribute cannot take effect because the method is not a member of {string.Join(" or ", serviceTypes.Select(s => s.Name))}, "
                + "and callers reach it only through that interface's proxy; add it to the interface, or move the attribute to a method that is.");
        }

        return problems;
    }
}
