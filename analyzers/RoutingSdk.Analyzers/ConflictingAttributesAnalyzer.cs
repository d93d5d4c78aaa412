using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0004: two or more routing attributes on one member or type.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class ConflictingAttributesAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.ConflictingAttributes);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterSymbolAction(c => Analyze(c, model), SymbolKind.Method, SymbolKind.NamedType);
        }

        private static void Analyze(SymbolAnalysisContext context, RoutingModel model)
        {
            var all = context.Symbol.GetAttributes();
            if (all.Length < 2)
            {
                return;
            }

            var attributes = model.RoutingAttributes(context.Symbol).ToList();
            if (attributes.Count < 2)
            {
                return;
            }

            // Reported on the second and later attributes, each removable by the code fix; the first stays.
            var names = string.Join(", ", attributes.Select(a => a.AttributeClass!.Name.Replace("Attribute", "")));
            foreach (var attribute in attributes.Skip(1))
            {
                var syntax = attribute.ApplicationSyntaxReference?.GetSyntax(context.CancellationToken);
                if (syntax is not null)
                {
                    context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.ConflictingAttributes, syntax.GetLocation(), context.Symbol.Name, names));
                }
            }
        }
    }
}
