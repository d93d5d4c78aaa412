using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0005: a routed method returning IQueryable&lt;T&gt;, or a lazy LINQ chain over one, that runs after the scope ends.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class DeferredQueryAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.DeferredQueryEscapesScope);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            var enumerable = start.Compilation.GetTypeByMetadataName("System.Collections.Generic.IEnumerable`1");
            start.RegisterSymbolAction(c => AnalyzeReturnType(c, model), SymbolKind.Method);
            start.RegisterOperationAction(c => AnalyzeReturn(c, model, enumerable), OperationKind.Return);
        }

        /// <summary>The declared return type is a query (IQueryable&lt;T&gt;, possibly inside Task/ValueTask).</summary>
        private static void AnalyzeReturnType(SymbolAnalysisContext context, RoutingModel model)
        {
            var method = (IMethodSymbol)context.Symbol;
            if (method.MethodKind != MethodKind.Ordinary || method.ReturnsVoid || method.ContainingType?.TypeKind == TypeKind.Interface)
            {
                return;
            }

            var returnType = model.Unwrap(method.ReturnType);
            if (!model.ImplementsQueryable(returnType))
            {
                return;
            }

            var route = model.EffectiveRoute(method);
            if (route == Route.None)
            {
                return;
            }

            foreach (var reference in method.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax(context.CancellationToken) is MethodDeclarationSyntax declaration)
                {
                    Report(context.ReportDiagnostic, declaration.ReturnType.GetLocation(), method, returnType, route);
                }
            }
        }

        /// <summary>A routed method declared to return IEnumerable&lt;T&gt; returns a query object (a lazy chain over IQueryable).</summary>
        private static void AnalyzeReturn(OperationAnalysisContext context, RoutingModel model, INamedTypeSymbol? enumerable)
        {
            var operation = (IReturnOperation)context.Operation;
            if (operation.ReturnedValue is null || enumerable is null || context.ContainingSymbol is not IMethodSymbol method
                || !SymbolEqualityComparer.Default.Equals(model.Unwrap(method.ReturnType).OriginalDefinition, enumerable))
            {
                return;
            }

            // A return inside a lambda or local function belongs to that function, not to the routed method.
            for (var parent = operation.Parent; parent is not null; parent = parent.Parent)
            {
                if (parent is IAnonymousFunctionOperation or ILocalFunctionOperation)
                {
                    return;
                }
            }

            var value = operation.ReturnedValue;
            while (value is IConversionOperation conversion)
            {
                value = conversion.Operand;
            }

            if (value is IAwaitOperation awaited)
            {
                value = awaited.Operation;
            }

            var type = value.Type is null ? null : model.Unwrap(value.Type);
            if (type is null || !model.ImplementsQueryable(type))
            {
                return;
            }

            var route = model.EffectiveRoute(method);
            if (route != Route.None)
            {
                Report(context.ReportDiagnostic, value.Syntax.GetLocation(), method, type, route);
            }
        }

        private static void Report(System.Action<Diagnostic> report, Location location, IMethodSymbol method, ITypeSymbol type, Route route) =>
            report(Diagnostic.Create(
                DiagnosticDescriptors.DeferredQueryEscapesScope, location, method.Name,
                type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat), RoutingModel.Describe(route)));
    }
}
