using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0003: a routing attribute on a static, non-public or non-interceptable member, or on a sealed class without an interface.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class AttributeCannotTakeEffectAnalyzer : RoutingAnalyzer
    {
        /// <summary>Diagnostic property telling the code fix that adding 'virtual' fixes it.</summary>
        public const string CanMakeVirtual = "CanMakeVirtual";

        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.AttributeCannotTakeEffect);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterSymbolAction(c => AnalyzeMethod(c, model), SymbolKind.Method);
            start.RegisterSymbolAction(c => AnalyzeType(c, model), SymbolKind.NamedType);
        }

        private static void AnalyzeMethod(SymbolAnalysisContext context, RoutingModel model)
        {
            var method = (IMethodSymbol)context.Symbol;
            if (method.ContainingType is not { TypeKind: TypeKind.Class } type)
            {
                return;
            }

            foreach (var attribute in model.RoutingAttributes(method))
            {
                string? why = null;
                var canMakeVirtual = false;
                if (method.IsStatic)
                {
                    why = "a static method cannot be intercepted; remove the attribute or call the method inside RoutingScope.Begin(...)";
                }
                else if (method.DeclaredAccessibility != Accessibility.Public)
                {
                    why = "a non-public method cannot be intercepted; make it public (and virtual, or a member of the service's interface)";
                }
                else if (!RoutingModel.ImplementedInterfaceMethods(method).Any() && (!method.IsVirtual && !method.IsAbstract && !method.IsOverride || method.IsSealed))
                {
                    why = type.IsSealed
                        ? "it is not a member of an interface, and the class is sealed; add it to the service's interface"
                        : "it is neither virtual nor a member of an interface, so no proxy can intercept it; make it virtual or add it to the service's interface";
                    canMakeVirtual = !type.IsSealed && !method.IsSealed && !method.IsOverride;
                }

                if (why is not null)
                {
                    Report(context, attribute, method.Name, why, canMakeVirtual);
                }
            }
        }

        private static void AnalyzeType(SymbolAnalysisContext context, RoutingModel model)
        {
            var type = (INamedTypeSymbol)context.Symbol;
            if (type.TypeKind != TypeKind.Class || type.AllInterfaces.Any(i => !i.ContainingNamespace.ToDisplayString().StartsWith("System", System.StringComparison.Ordinal)))
            {
                return;
            }

            string? why = null;
            if (type.IsSealed)
            {
                why = "a sealed class without an interface cannot be proxied; remove 'sealed' (and make its methods virtual) or register it through an interface";
            }
            else
            {
                // A class-level attribute on a class proxy routes every public method: each must be interceptable.
                var nonVirtual = type.GetMembers().OfType<IMethodSymbol>()
                    .Where(m => m.MethodKind == MethodKind.Ordinary && !m.IsStatic && m.DeclaredAccessibility == Accessibility.Public && (!m.IsVirtual && !m.IsAbstract && !m.IsOverride || m.IsSealed))
                    .Select(m => m.Name).ToList();
                if (nonVirtual.Count > 0)
                {
                    why = $"the class has no interface and its public method(s) {string.Join(", ", nonVirtual)} are not virtual, so a class proxy cannot intercept them; make them virtual or register the class through an interface";
                }
            }

            if (why is null)
            {
                return;
            }

            foreach (var attribute in model.RoutingAttributes(type))
            {
                Report(context, attribute, type.Name, why, false);
            }
        }

        private static void Report(SymbolAnalysisContext context, AttributeData attribute, string member, string why, bool canMakeVirtual)
        {
            var syntax = attribute.ApplicationSyntaxReference?.GetSyntax(context.CancellationToken);
            if (syntax is null)
            {
                return;
            }

            var properties = canMakeVirtual ? ImmutableDictionary<string, string?>.Empty.Add(CanMakeVirtual, "true") : ImmutableDictionary<string, string?>.Empty;
            var name = attribute.AttributeClass!.Name;
            context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.AttributeCannotTakeEffect, syntax.GetLocation(), properties,
                name.EndsWith("Attribute", System.StringComparison.Ordinal) ? name.Substring(0, name.Length - "Attribute".Length) : name, member, why));
        }
    }
}
