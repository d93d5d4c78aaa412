using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>
    /// QR0011: database work (a member of a DbContext, a call on RoutingDataSource) in a hosted service's ExecuteAsync,
    /// StartAsync or StopAsync — directly or in a lambda they start (Task.Run, StartNew, Parallel, a Timer) — or in a
    /// lambda queued with ThreadPool.UnsafeQueueUserWorkItem, with no TenantScope begun around it; only in compilations
    /// whose source calls TenantScope.Begin (single-cluster applications never see it).
    /// </summary>
    /// <remarks>
    /// The ambient tenant is an AsyncLocal: Task.Run, StartNew, QueueUserWorkItem, Parallel and Timer callbacks carry
    /// the starting code's tenant, so a lambda counts as tenantless only where the code that starts it has no tenant
    /// (a hosted service) or the starter does not carry it (UnsafeQueueUserWorkItem).
    /// </remarks>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class TenantlessBackgroundWorkAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.DatabaseWorkWithoutTenantScope);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            if (model.TenantScope is null)
            {
                return;
            }

            var tenants = new TenantScopeUse(start.Compilation);
            start.RegisterOperationAction(c => Analyze(c, model, tenants), OperationKind.Invocation, OperationKind.PropertyReference);
        }

        private static void Analyze(OperationAnalysisContext context, RoutingModel model, TenantScopeUse tenants)
        {
            var member = DatabaseMember(context.Operation, model);
            if (member is null)
            {
                return;
            }

            var background = TenantlessBackground(context.Operation.Syntax, context.Operation.SemanticModel!, model, context.CancellationToken);

            // Last, and once per compilation: whether the application uses tenants at all.
            if (background is not null && tenants.SourceBeginsTenantScopes(context.CancellationToken))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    DiagnosticDescriptors.DatabaseWorkWithoutTenantScope, context.Operation.Syntax.GetLocation(), member, background));
            }
        }

        /// <summary>The member's name when <paramref name="operation"/> is database work: a DbContext's member, or a call on RoutingDataSource.</summary>
        private static string? DatabaseMember(IOperation operation, RoutingModel model)
        {
            switch (operation)
            {
                case IPropertyReferenceOperation { Instance: { } instance } property:
                    // ChangeTracker, Model and ContextId never reach the database; Database, the DbSets and the rest are (or lead to) statements.
                    return property.Property.Name is "ChangeTracker" or "Model" or "ContextId" || !model.IsOrDerivesFrom(instance.Type, model.DbContext)
                        ? null
                        : property.Property.Name;
                case IInvocationOperation invocation:
                    var method = invocation.TargetMethod;
                    if (method.Name is "Dispose" or "DisposeAsync" or "GetType" or "ToString" or "Equals" or "GetHashCode")
                    {
                        return null;
                    }

                    var receiver = invocation.Instance ?? (method.IsExtensionMethod && invocation.Arguments.Length > 0 ? invocation.Arguments[0].Value : null);
                    return receiver is not null && (model.IsOrDerivesFrom(receiver.Type, model.DbContext) || model.IsOrDerivesFrom(receiver.Type, model.RoutingDataSource))
                        ? method.Name
                        : null;
                default:
                    return null;
            }
        }

        /// <summary>
        /// How <paramref name="node"/> runs without a tenant ("Task.Run in Worker.ExecuteAsync of a BackgroundService"), or
        /// null when it runs with one or may: inside a tenant scope, or in code whose tenant comes from its caller.
        /// </summary>
        private static string? TenantlessBackground(SyntaxNode node, SemanticModel semanticModel, RoutingModel model, CancellationToken cancellationToken)
        {
            string? startedBy = null;
            var child = node;
            for (var current = node.Parent; current is not null; child = current, current = current.Parent)
            {
                switch (current)
                {
                    case UsingStatementSyntax usingStatement when child == usingStatement.Statement:
                        var resource = usingStatement.Expression ?? (usingStatement.Declaration is { Variables.Count: 1 } declaration ? declaration.Variables[0].Initializer?.Value : null);
                        if (BeginsTenantScope(resource, semanticModel, model, cancellationToken))
                        {
                            return null;
                        }

                        break;
                    case BlockSyntax block when ScopeBegunBefore(block.Statements, child, semanticModel, model, cancellationToken):
                        return null;
                    case SwitchSectionSyntax section when ScopeBegunBefore(section.Statements, child, semanticModel, model, cancellationToken):
                        return null;
                    case AnonymousFunctionExpressionSyntax lambda:
                        var starter = Starter(lambda, semanticModel, model, cancellationToken, out var carriesTenant);
                        if (starter is not null && !carriesTenant)
                        {
                            return starter + ", which does not carry the caller's tenant";
                        }

                        // Task.Run and the like carry the starting code's tenant: look further out. Other lambdas run in the enclosing code's flow.
                        startedBy ??= starter;
                        break;
                    case LocalFunctionStatementSyntax:
                        return null; // called from elsewhere, with its caller's tenant: out of reach
                    case MethodDeclarationSyntax method:
                        var entry = HostedEntryPoint(method, semanticModel, model, cancellationToken);
                        return entry is null ? null : startedBy is null ? entry : startedBy + " in " + entry;
                    case MemberDeclarationSyntax:
                        return null; // constructors, properties, fields, top-level statements: not background entry points
                }
            }

            return null;
        }

        /// <summary>A preceding statement of the enclosing block declares <c>[using] var x = TenantScope.Begin(...)</c>.</summary>
        private static bool ScopeBegunBefore(SyntaxList<StatementSyntax> statements, SyntaxNode child, SemanticModel semanticModel, RoutingModel model, CancellationToken cancellationToken)
        {
            foreach (var statement in statements)
            {
                if (statement == child)
                {
                    return false;
                }

                if (statement is LocalDeclarationStatementSyntax local)
                {
                    foreach (var variable in local.Declaration.Variables)
                    {
                        if (BeginsTenantScope(variable.Initializer?.Value, semanticModel, model, cancellationToken))
                        {
                            return true;
                        }
                    }
                }
            }

            return false;
        }

        private static bool BeginsTenantScope(ExpressionSyntax? expression, SemanticModel semanticModel, RoutingModel model, CancellationToken cancellationToken)
        {
            if (expression is not InvocationExpressionSyntax invocation || InvokedName(invocation.Expression) != "Begin")
            {
                return false;
            }

            return semanticModel.GetSymbolInfo(invocation, cancellationToken).Symbol is IMethodSymbol method
                && SymbolEqualityComparer.Default.Equals(method.ContainingType, model.TenantScope);
        }

        private static string? InvokedName(ExpressionSyntax expression) => expression switch
        {
            MemberAccessExpressionSyntax access => access.Name.Identifier.ValueText,
            SimpleNameSyntax name => name.Identifier.ValueText,
            _ => null,
        };

        private static string? TypeName(TypeSyntax type) => type switch
        {
            QualifiedNameSyntax qualified => qualified.Right.Identifier.ValueText,
            AliasQualifiedNameSyntax alias => alias.Name.Identifier.ValueText,
            SimpleNameSyntax name => name.Identifier.ValueText,
            _ => null,
        };

        /// <summary>"Task.Run" when <paramref name="lambda"/> is handed to a call that runs it on the thread pool or a timer; null otherwise.</summary>
        private static string? Starter(AnonymousFunctionExpressionSyntax lambda, SemanticModel semanticModel, RoutingModel model, CancellationToken cancellationToken, out bool carriesTenant)
        {
            carriesTenant = true;
            if (lambda.Parent is not ArgumentSyntax { Parent: ArgumentListSyntax { Parent: { } call } })
            {
                return null;
            }

            switch (call)
            {
                case InvocationExpressionSyntax invocation when InvokedName(invocation.Expression) is "Run" or "StartNew" or "QueueUserWorkItem" or "UnsafeQueueUserWorkItem" or "For" or "ForEach" or "ForEachAsync" or "Invoke":
                    if (semanticModel.GetSymbolInfo(invocation, cancellationToken).Symbol is not IMethodSymbol method)
                    {
                        return null;
                    }

                    var type = method.ContainingType?.OriginalDefinition;
                    if (method.Name == "Run" && SymbolEqualityComparer.Default.Equals(type, model.Task))
                    {
                        return "Task.Run";
                    }

                    if (method.Name == "StartNew" && (SymbolEqualityComparer.Default.Equals(type, model.TaskFactory) || SymbolEqualityComparer.Default.Equals(type, model.TaskFactoryOfT)))
                    {
                        return "TaskFactory.StartNew";
                    }

                    if (method.Name is "QueueUserWorkItem" or "UnsafeQueueUserWorkItem" && SymbolEqualityComparer.Default.Equals(type, model.ThreadPool))
                    {
                        carriesTenant = method.Name == "QueueUserWorkItem"; // the Unsafe variant does not flow the ExecutionContext
                        return "ThreadPool." + method.Name;
                    }

                    return method.Name is "For" or "ForEach" or "ForEachAsync" or "Invoke" && SymbolEqualityComparer.Default.Equals(type, model.Parallel)
                        ? "Parallel." + method.Name
                        : null;
                case BaseObjectCreationExpressionSyntax creation when creation is not ObjectCreationExpressionSyntax { Type: var created } || TypeName(created) == "Timer":
                    return semanticModel.GetSymbolInfo(creation, cancellationToken).Symbol is IMethodSymbol constructor
                        && SymbolEqualityComparer.Default.Equals(constructor.ContainingType, model.Timer)
                        ? "a Timer callback"
                        : null;
                default:
                    return null;
            }
        }

        /// <summary>"Worker.ExecuteAsync of a BackgroundService" when <paramref name="declaration"/> is where a hosted service's work starts.</summary>
        private static string? HostedEntryPoint(MethodDeclarationSyntax declaration, SemanticModel semanticModel, RoutingModel model, CancellationToken cancellationToken)
        {
            var name = declaration.Identifier.ValueText;
            if (name is not ("ExecuteAsync" or "StartAsync" or "StopAsync" or "StartingAsync" or "StartedAsync" or "StoppingAsync" or "StoppedAsync")
                || model.HostedService is null
                || semanticModel.GetDeclaredSymbol(declaration, cancellationToken) is not { } method)
            {
                return null;
            }

            var where = method.ContainingType.Name + "." + name;
            if (name == "ExecuteAsync")
            {
                return method.IsOverride && model.IsOrDerivesFrom(method.ContainingType, model.BackgroundService) ? where + " of a BackgroundService" : null;
            }

            var service = name is "StartAsync" or "StopAsync" ? model.HostedService : model.HostedLifecycleService;
            if (service is null)
            {
                return null;
            }

            foreach (var member in service.GetMembers(name))
            {
                // Implemented here, explicitly, or by the base method this one overrides (BackgroundService.StartAsync).
                for (var m = method; m is not null; m = m.OverriddenMethod)
                {
                    if (m.ExplicitInterfaceImplementations.Any(e => SymbolEqualityComparer.Default.Equals(e, member))
                        || SymbolEqualityComparer.Default.Equals(m.ContainingType.FindImplementationForInterfaceMember(member), m))
                    {
                        return where + " of an " + service.Name;
                    }
                }
            }

            return null;
        }

        /// <summary>
        /// Whether the compilation's source calls <c>TenantScope.Begin</c> anywhere: asked only when there is something to report,
        /// answered once per compilation, each syntax tree scanned once (the IDE's next compilation reuses unchanged trees).
        /// </summary>
        private sealed class TenantScopeUse
        {
            private static readonly ConditionalWeakTable<SyntaxTree, object> ScannedTrees = new ConditionalWeakTable<SyntaxTree, object>();
            private static readonly object Yes = new object();
            private static readonly object No = new object();

            private readonly Compilation _compilation;
            private int _state; // 0 not asked yet, 1 yes, 2 no

            public TenantScopeUse(Compilation compilation) => _compilation = compilation;

            public bool SourceBeginsTenantScopes(CancellationToken cancellationToken)
            {
                var state = Volatile.Read(ref _state);
                if (state == 0)
                {
                    var found = false;
                    foreach (var tree in _compilation.SyntaxTrees)
                    {
                        if (BeginsTenantScopes(tree, cancellationToken))
                        {
                            found = true;
                            break;
                        }
                    }

                    state = found ? 1 : 2;
                    Volatile.Write(ref _state, state);
                }

                return state == 1;
            }

            private static bool BeginsTenantScopes(SyntaxTree tree, CancellationToken cancellationToken)
            {
                if (!ScannedTrees.TryGetValue(tree, out var answer))
                {
                    answer = Scan(tree, cancellationToken) ? Yes : No;
                    ScannedTrees.GetValue(tree, _ => answer);
                }

                return answer == Yes;
            }

            /// <summary>A call written <c>TenantScope.Begin(...)</c> (qualified or not); a syntactic match, the compilation already references the type.</summary>
            private static bool Scan(SyntaxTree tree, CancellationToken cancellationToken)
            {
                foreach (var node in tree.GetRoot(cancellationToken).DescendantNodes())
                {
                    if (node is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "Begin" } access }
                        && (access.Expression is MemberAccessExpressionSyntax qualified ? qualified.Name : access.Expression as SimpleNameSyntax) is { Identifier.ValueText: "TenantScope" })
                    {
                        return true;
                    }
                }

                return false;
            }
        }
    }
}
