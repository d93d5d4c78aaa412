using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0009: MaxLagMilliseconds ≤ 0 or an empty Scenario on a routing attribute.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class InvalidAttributeArgumentAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.InvalidAttributeArgument);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterSyntaxNodeAction(c => Analyze(c, model), SyntaxKind.Attribute);
        }

        private static void Analyze(SyntaxNodeAnalysisContext context, RoutingModel model)
        {
            var attribute = (AttributeSyntax)context.Node;

            // Syntax first: only attributes that set one of the checked properties are bound.
            if (attribute.ArgumentList is null || !attribute.ArgumentList.Arguments.Any(a => a.NameEquals?.Name.Identifier.ValueText is "MaxLagMilliseconds" or "Scenario"))
            {
                return;
            }

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
