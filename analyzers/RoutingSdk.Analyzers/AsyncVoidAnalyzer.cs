using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0008: an async void routed method.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class AsyncVoidAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.AsyncVoidRoutedMethod);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterSymbolAction(c => Analyze(c, model), SymbolKind.Method);
        }

        private static void Analyze(SymbolAnalysisContext context, RoutingModel model)
        {
            var method = (IMethodSymbol)context.Symbol;
            if (!method.IsAsync || !method.ReturnsVoid || method.MethodKind != MethodKind.Ordinary || model.EffectiveRoute(method) == Route.None)
            {
                return;
            }

            foreach (var location in method.Locations)
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.AsyncVoidRoutedMethod, location, method.Name));
            }
        }
    }
}
