using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0009: MaxLagMilliseconds ≤ 0 or an empty Scenario on a routing attribute.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class InvalidAttributeArgumentAnalyzer : DiagnosticAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.InvalidAttributeArgument);

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

                start.RegisterSyntaxNodeAction(c => Analyze(c, model), SyntaxKind.Attribute);
            });
        }

        private static void Analyze(SyntaxNodeAnalysisContext context, RoutingModel model)
        {
            var attribute = (AttributeSyntax)context.Node;
            if (attribute.ArgumentList is null
                || context.SemanticModel.GetSymbolInfo(attribute, context.CancellationToken).Symbol is not IMethodSymbol constructor
                || model.RouteOfAttribute(constructor.ContainingType) == Route.None)
            {
                return;
            }

            foreach (var argument in attribute.ArgumentList.Arguments)
            {
                var name = argument.NameEquals?.Name.Identifier.ValueText;
                var value = context.SemanticModel.GetConstantValue(argument.Expression, context.CancellationToken);
                if (!value.HasValue)
                {
                    continue;
                }

                if (name == "MaxLagMilliseconds" && value.Value is int lag && lag <= 0)
                {
                    context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InvalidAttributeArgument, argument.GetLocation(),
                        $"MaxLagMilliseconds must be > 0 (was {lag}); leave it unset to accept any healthy asynchronous replica"));
                }
                else if (name == "Scenario" && value.Value is string scenario && string.IsNullOrWhiteSpace(scenario))
                {
                    context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InvalidAttributeArgument, argument.GetLocation(),
                        "Scenario must not be empty; leave it unset to use the default 'Type.Method'"));
                }
            }
        }
    }
}
