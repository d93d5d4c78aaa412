using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0003: makes the routed method virtual so a class proxy can intercept it.</summary>
    [ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MakeVirtualCodeFixProvider)), Shared]
    public sealed class MakeVirtualCodeFixProvider : CodeFixProvider
    {
        /// <summary>The code action's title and equivalence key.</summary>
        public const string Title = "Make virtual";

        /// <inheritdoc />
        public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(DiagnosticDescriptors.AttributeCannotTakeEffect.Id);

        /// <inheritdoc />
        public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

        /// <inheritdoc />
        public override async Task RegisterCodeFixesAsync(CodeFixContext context)
        {
            var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            foreach (var diagnostic in context.Diagnostics.Where(d => d.Properties.ContainsKey(AttributeCannotTakeEffectAnalyzer.CanMakeVirtual)))
            {
                var method = root?.FindNode(diagnostic.Location.SourceSpan).FirstAncestorOrSelf<MethodDeclarationSyntax>();
                if (method is null)
                {
                    continue;
                }

                context.RegisterCodeFix(
                    CodeAction.Create(Title, ct => MakeVirtualAsync(context.Document, method, ct), equivalenceKey: Title),
                    diagnostic);
            }
        }

        private static async Task<Document> MakeVirtualAsync(Document document, MethodDeclarationSyntax method, CancellationToken cancellationToken)
        {
            var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            var modifiers = method.Modifiers;
            var index = modifiers.IndexOf(SyntaxKind.PublicKeyword);
            var virtualKeyword = SyntaxFactory.Token(SyntaxKind.VirtualKeyword).WithTrailingTrivia(SyntaxFactory.Space);
            var updated = index >= 0
                ? method.WithModifiers(modifiers.Insert(index + 1, virtualKeyword))
                : method.WithModifiers(modifiers.Add(virtualKeyword));
            return document.WithSyntaxRoot(root!.ReplaceNode(method, updated));
        }
    }
}
