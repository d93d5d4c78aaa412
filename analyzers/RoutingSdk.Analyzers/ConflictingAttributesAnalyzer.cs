using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0004: two or more routing attributes on one member or type.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class ConflictingAttributesAnalyzer : DiagnosticAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.ConflictingAttributes);

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

                start.RegisterSymbolAction(c => Analyze(c, model), SymbolKind.Method, SymbolKind.NamedType);
            });
        }

        private static void Analyze(SymbolAnalysisContext context, RoutingModel model)
        {
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
