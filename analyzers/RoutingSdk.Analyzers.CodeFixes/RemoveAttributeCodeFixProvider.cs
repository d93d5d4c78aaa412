using System.Collections.Immutable;
using System.Composition;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0004: removes the conflicting routing attribute the diagnostic points at.</summary>
    [ExportCodeFixProvider(Microsoft.CodeAnalysis.LanguageNames.CSharp, Name = nameof(RemoveAttributeCodeFixProvider)), Shared]
    public sealed class RemoveAttributeCodeFixProvider : CodeFixProvider
    {
        /// <inheritdoc />
        public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(DiagnosticDescriptors.ConflictingAttributes.Id);

        /// <inheritdoc />
        public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

        /// <inheritdoc />
        public override async Task RegisterCodeFixesAsync(CodeFixContext context)
        {
            var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            foreach (var diagnostic in context.Diagnostics)
            {
                var attribute = root?.FindNode(diagnostic.Location.SourceSpan).FirstAncestorOrSelf<AttributeSyntax>();
                if (attribute is null)
                {
                    continue;
                }

                var title = $"Remove [{attribute.Name}]";
                context.RegisterCodeFix(CodeAction.Create(title, ct => RemoveAsync(context.Document, attribute, ct), equivalenceKey: "RemoveConflictingRoutingAttribute"), diagnostic);
            }
        }

        private static async Task<Document> RemoveAsync(Document document, AttributeSyntax attribute, CancellationToken cancellationToken)
        {
            var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            SyntaxNode newRoot = attribute.Parent is AttributeListSyntax { Attributes.Count: 1 } list
                ? root!.RemoveNode(list, SyntaxRemoveOptions.KeepNoTrivia)!
                : root!.RemoveNode(attribute, SyntaxRemoveOptions.KeepNoTrivia)!;
            return document.WithSyntaxRoot(newRoot);
        }
    }
}
