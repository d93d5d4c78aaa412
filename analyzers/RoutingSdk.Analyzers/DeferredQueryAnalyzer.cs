using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0005: a routed method returning IQueryable&lt;T&gt;, or a lazy LINQ chain over one, that runs after the scope ends.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class DeferredQueryAnalyzer : DiagnosticAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.DeferredQueryEscapesScope);

        /// <inheritdoc />
        public override void Initialize(AnalysisContext context)
        {
            context.EnableConcurrentExecution();
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.RegisterCompilationStartAction(start =>
            {
                var model = RoutingModel.Create(start.Compilation);
                if (model is null)
                {
                    return;
                }

                start.RegisterSyntaxNodeAction(c => AnalyzeMethod(c, model), SyntaxKind.MethodDeclaration);
            });
        }

        private static void AnalyzeMethod(SyntaxNodeAnalysisContext context, RoutingModel model)
        {
            var declaration = (MethodDeclarationSyntax)context.Node;
            if (context.SemanticModel.GetDeclaredSymbol(declaration, context.CancellationToken) is not { } method)
            {
                return;
            }

            var route = model.EffectiveRoute(method);
            if (route == Route.None)
            {
                return;
            }

            var returnType = model.Unwrap(method.ReturnType);
            if (model.ImplementsQueryable(returnType))
            {
                Report(context, declaration.ReturnType.GetLocation(), method, returnType, route);
                return;
            }

            // A lazy chain returned as IEnumerable<T>: an iterator (yield) runs inside the route, a returned IQueryable does not.
            if (declaration.Body?.DescendantNodes().OfType<YieldStatementSyntax>().Any() == true)
            {
                return;
            }

            var returned = declaration.ExpressionBody is { } arrow
                ? new[] { arrow.Expression }
                : declaration.Body?.DescendantNodes(n => n is not AnonymousFunctionExpressionSyntax && n is not LocalFunctionStatementSyntax)
                    .OfType<ReturnStatementSyntax>().Select(r => r.Expression).Where(e => e is not null).Cast<ExpressionSyntax>().ToArray()
                  ?? new ExpressionSyntax[0];
            foreach (var expression in returned)
            {
                var type = context.SemanticModel.GetTypeInfo(expression is AwaitExpressionSyntax awaited ? awaited.Expression : expression, context.CancellationToken).Type;
                if (type is not null && model.ImplementsQueryable(model.Unwrap(type)))
                {
                    Report(context, expression.GetLocation(), method, model.Unwrap(type), route);
                }
            }
        }

        private static void Report(SyntaxNodeAnalysisContext context, Location location, IMethodSymbol method, ITypeSymbol type, Route route) =>
            context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.DeferredQueryEscapesScope, location, method.Name,
                type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat), RoutingModel.Describe(route)));
    }
}
