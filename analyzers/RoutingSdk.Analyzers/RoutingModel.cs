using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace RoutingSdk.Analyzers
{
    /// <summary>Routes, in strictness order (as RoutingSdk's RouteKind, without Default).</summary>
    internal enum Route
    {
        None = 0,
        AsyncReplica = 1,
        ReadReplica = 2,
        MasterOnly = 3,
    }

    /// <summary>The symbols RoutingSdk's rules are about, resolved once per compilation.</summary>
    internal sealed class RoutingModel
    {
        // Per compilation: every invocation asks for its enclosing method's route and its target's route.
        private readonly ConcurrentDictionary<IMethodSymbol, Route> _routes = new ConcurrentDictionary<IMethodSymbol, Route>(SymbolEqualityComparer.Default);
        private readonly ConcurrentDictionary<INamedTypeSymbol, bool> _routedTypes = new ConcurrentDictionary<INamedTypeSymbol, bool>(SymbolEqualityComparer.Default);

        private RoutingModel(Compilation compilation, INamedTypeSymbol readReplica, INamedTypeSymbol? masterOnly, INamedTypeSymbol? asyncReplica)
        {
            ReadReplica = readReplica;
            MasterOnly = masterOnly;
            AsyncReplica = asyncReplica;
            DbContext = compilation.GetTypeByMetadataName("Microsoft.EntityFrameworkCore.DbContext");
            DatabaseFacade = compilation.GetTypeByMetadataName("Microsoft.EntityFrameworkCore.Infrastructure.DatabaseFacade");
            DbConnection = compilation.GetTypeByMetadataName("System.Data.Common.DbConnection");
            TransactionScope = compilation.GetTypeByMetadataName("System.Transactions.TransactionScope");
            Queryable = compilation.GetTypeByMetadataName("System.Linq.IQueryable");
            Task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task");
            TaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1");
            ValueTask = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask");
            ValueTaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1");
            ThreadPool = compilation.GetTypeByMetadataName("System.Threading.ThreadPool");
            TaskFactory = compilation.GetTypeByMetadataName("System.Threading.Tasks.TaskFactory");
            TaskFactoryOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.TaskFactory`1");
            Parallel = compilation.GetTypeByMetadataName("System.Threading.Tasks.Parallel");
            Timer = compilation.GetTypeByMetadataName("System.Threading.Timer");
            TenantScope = compilation.GetTypeByMetadataName("RoutingSdk.TenantScope");
            RoutingDataSource = compilation.GetTypeByMetadataName("RoutingSdk.RoutingDataSource");
            BackgroundService = compilation.GetTypeByMetadataName("Microsoft.Extensions.Hosting.BackgroundService");
            HostedService = compilation.GetTypeByMetadataName("Microsoft.Extensions.Hosting.IHostedService");
            HostedLifecycleService = compilation.GetTypeByMetadataName("Microsoft.Extensions.Hosting.IHostedLifecycleService");
        }

        public INamedTypeSymbol ReadReplica { get; }

        public INamedTypeSymbol? MasterOnly { get; }

        public INamedTypeSymbol? AsyncReplica { get; }

        public INamedTypeSymbol? DbContext { get; }

        public INamedTypeSymbol? DatabaseFacade { get; }

        public INamedTypeSymbol? DbConnection { get; }

        public INamedTypeSymbol? TransactionScope { get; }

        public INamedTypeSymbol? Queryable { get; }

        public INamedTypeSymbol? Task { get; }

        public INamedTypeSymbol? TaskOfT { get; }

        public INamedTypeSymbol? ValueTask { get; }

        public INamedTypeSymbol? ValueTaskOfT { get; }

        public INamedTypeSymbol? ThreadPool { get; }

        public INamedTypeSymbol? TaskFactory { get; }

        public INamedTypeSymbol? TaskFactoryOfT { get; }

        public INamedTypeSymbol? Parallel { get; }

        /// <summary>System.Threading.Timer.</summary>
        public INamedTypeSymbol? Timer { get; }

        /// <summary>RoutingSdk's ambient tenant (multi-cluster routing); null with a RoutingSdk that predates tenants.</summary>
        public INamedTypeSymbol? TenantScope { get; }

        public INamedTypeSymbol? RoutingDataSource { get; }

        /// <summary>Microsoft.Extensions.Hosting's BackgroundService, when the compilation references hosting.</summary>
        public INamedTypeSymbol? BackgroundService { get; }

        public INamedTypeSymbol? HostedService { get; }

        public INamedTypeSymbol? HostedLifecycleService { get; }

        /// <summary>Null when the compilation does not reference RoutingSdk: nothing to analyze.</summary>
        public static RoutingModel? Create(Compilation compilation)
        {
            var readReplica = compilation.GetTypeByMetadataName("RoutingSdk.ReadReplicaAttribute");
            return readReplica is null
                ? null
                : new RoutingModel(
                    compilation,
                    readReplica,
                    compilation.GetTypeByMetadataName("RoutingSdk.MasterOnlyAttribute"),
                    compilation.GetTypeByMetadataName("RoutingSdk.AsyncReplicaAttribute"));
        }

        public Route RouteOfAttribute(INamedTypeSymbol? attributeClass)
        {
            if (attributeClass is null)
            {
                return Route.None;
            }

            if (SymbolEqualityComparer.Default.Equals(attributeClass, ReadReplica))
            {
                return Route.ReadReplica;
            }

            if (SymbolEqualityComparer.Default.Equals(attributeClass, MasterOnly))
            {
                return Route.MasterOnly;
            }

            return SymbolEqualityComparer.Default.Equals(attributeClass, AsyncReplica) ? Route.AsyncReplica : Route.None;
        }

        /// <summary>The routing attributes declared directly on a symbol.</summary>
        public IEnumerable<AttributeData> RoutingAttributes(ISymbol symbol) =>
            symbol.GetAttributes().Where(a => RouteOfAttribute(a.AttributeClass) != Route.None);

        public Route DeclaredRoute(ISymbol symbol)
        {
            foreach (var attribute in symbol.GetAttributes())
            {
                var route = RouteOfAttribute(attribute.AttributeClass);
                if (route != Route.None)
                {
                    return route;
                }
            }

            return Route.None;
        }

        /// <summary>The interface members <paramref name="method"/> implements.</summary>
        public static IEnumerable<IMethodSymbol> ImplementedInterfaceMethods(IMethodSymbol method)
        {
            var type = method.ContainingType;
            if (type is null || type.TypeKind == TypeKind.Interface)
            {
                yield break;
            }

            foreach (var iface in type.AllInterfaces)
            {
                foreach (var member in iface.GetMembers().OfType<IMethodSymbol>())
                {
                    var implementation = type.FindImplementationForInterfaceMember(member);
                    if (implementation is not null && SymbolEqualityComparer.Default.Equals(implementation.OriginalDefinition, method.OriginalDefinition))
                    {
                        yield return member;
                    }
                }
            }
        }

        /// <summary>RoutingSdk's precedence: implementation method &gt; interface method &gt; implementation class &gt; interface.</summary>
        public Route EffectiveRoute(IMethodSymbol method)
        {
            method = (method.ReducedFrom ?? method).OriginalDefinition;
            return _routes.GetOrAdd(method, m => ComputeRoute(m));
        }

        /// <summary>Whether a routing attribute appears on the type, its members, or its interfaces and their members.</summary>
        private bool MayBeRouted(INamedTypeSymbol type) =>
            _routedTypes.GetOrAdd(type.OriginalDefinition, t =>
                DeclaredRoute(t) != Route.None
                || t.GetMembers().Any(m => m is IMethodSymbol && DeclaredRoute(m) != Route.None)
                || t.AllInterfaces.Any(i => DeclaredRoute(i.OriginalDefinition) != Route.None || i.GetMembers().Any(m => m is IMethodSymbol && DeclaredRoute(m) != Route.None)));

        private Route ComputeRoute(IMethodSymbol method)
        {
            if (method.ContainingType is { } containing && !MayBeRouted(containing))
            {
                return Route.None;
            }

            var own = DeclaredRoute(method.OriginalDefinition);
            if (own != Route.None)
            {
                return own;
            }

            var implemented = ImplementedInterfaceMethods(method.OriginalDefinition).ToList();
            foreach (var member in implemented)
            {
                var route = DeclaredRoute(member.OriginalDefinition);
                if (route != Route.None)
                {
                    return route;
                }
            }

            if (method.ContainingType is { } type)
            {
                var typeRoute = DeclaredRoute(type.OriginalDefinition);
                if (typeRoute != Route.None)
                {
                    return typeRoute;
                }
            }

            foreach (var member in implemented)
            {
                var route = DeclaredRoute(member.ContainingType.OriginalDefinition);
                if (route != Route.None)
                {
                    return route;
                }
            }

            return Route.None;
        }

        /// <summary>
        /// The routed method whose body runs <paramref name="node"/>: the enclosing method declaration, through local
        /// functions and lambdas, unless a lambda is handed to a call on a [MasterOnly] method (then it is that method's work).
        /// </summary>
        /// <summary>The routed method around <paramref name="node"/> when its effective route is a replica route (ReadReplica or AsyncReplica).</summary>
        public bool TryGetEnclosingReplicaRoute(SyntaxNode node, SemanticModel model, System.Threading.CancellationToken cancellationToken, out IMethodSymbol routed, out Route route)
        {
            routed = EnclosingRoutedMethod(node, model, cancellationToken)!;
            route = routed is null ? default : EffectiveRoute(routed);
            return routed is not null && IsReplicaRoute(route);
        }

        public IMethodSymbol? EnclosingRoutedMethod(SyntaxNode node, SemanticModel model, System.Threading.CancellationToken cancellationToken)
        {
            for (var current = node.Parent; current is not null; current = current.Parent)
            {
                switch (current)
                {
                    case AnonymousFunctionExpressionSyntax lambda when HandedToMasterOnly(lambda, model, cancellationToken):
                        return null;
                    case MethodDeclarationSyntax method:
                        return model.GetDeclaredSymbol(method, cancellationToken);
                    case TypeDeclarationSyntax:
                        return null;
                }
            }

            return null;
        }

        private bool HandedToMasterOnly(AnonymousFunctionExpressionSyntax lambda, SemanticModel model, System.Threading.CancellationToken cancellationToken)
        {
            if (lambda.Parent is ArgumentSyntax { Parent: ArgumentListSyntax { Parent: InvocationExpressionSyntax invocation } }
                && model.GetSymbolInfo(invocation, cancellationToken).Symbol is IMethodSymbol target)
            {
                return EffectiveRoute(target) == Route.MasterOnly;
            }

            return false;
        }

        public bool IsOrDerivesFrom(ITypeSymbol? type, INamedTypeSymbol? baseType)
        {
            for (var t = type; t is not null && baseType is not null; t = t.BaseType)
            {
                if (SymbolEqualityComparer.Default.Equals(t.OriginalDefinition, baseType))
                {
                    return true;
                }
            }

            return false;
        }

        public bool ImplementsQueryable(ITypeSymbol? type) =>
            type is not null && Queryable is not null
            && (SymbolEqualityComparer.Default.Equals(type, Queryable) || type.AllInterfaces.Any(i => SymbolEqualityComparer.Default.Equals(i, Queryable)));

        public bool IsAwaitable(ITypeSymbol? type) =>
            type is INamedTypeSymbol named
            && (SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, Task) || SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, TaskOfT)
                || SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, ValueTask) || SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, ValueTaskOfT));

        /// <summary>Task&lt;T&gt;/ValueTask&lt;T&gt; → T; anything else as it is.</summary>
        public ITypeSymbol Unwrap(ITypeSymbol type) =>
            type is INamedTypeSymbol { TypeArguments.Length: 1 } named
            && (SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, TaskOfT) || SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, ValueTaskOfT))
                ? named.TypeArguments[0]
                : type;

        public static string Describe(Route route) => route switch
        {
            Route.MasterOnly => "MasterOnly",
            Route.ReadReplica => "ReadReplica",
            Route.AsyncReplica => "AsyncReplica",
            _ => "no route",
        };

        public static bool IsReplicaRoute(Route route) => route == Route.ReadReplica || route == Route.AsyncReplica;
    }
}
