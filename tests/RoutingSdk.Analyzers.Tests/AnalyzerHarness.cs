using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace RoutingSdk.Analyzers.Tests;

/// <summary>Compiles real snippets against the real RoutingSdk and EF Core assemblies and runs one analyzer.</summary>
internal static partial class AnalyzerHarness
{
    public const string Prelude = """
        using System;
        using System.Collections.Generic;
        using System.Linq;
        using System.Threading;
        using System.Threading.Tasks;
        using System.Transactions;
        using Microsoft.EntityFrameworkCore;
        using RoutingSdk;

        public class Order { public int Id { get; set; } public int Qty { get; set; } }
        public class Db : DbContext { public DbSet<Order> Orders => Set<Order>(); }

        """;

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).ToHashSet(StringComparer.Ordinal);
        paths.Add(typeof(ReadReplicaAttribute).Assembly.Location);
        paths.Add(typeof(Microsoft.EntityFrameworkCore.DbContext).Assembly.Location);
        paths.Add(typeof(Microsoft.EntityFrameworkCore.RelationalDatabaseFacadeExtensions).Assembly.Location);
        paths.Add(typeof(Microsoft.EntityFrameworkCore.QueryRoutingQueryableExtensions).Assembly.Location);
        return [.. paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    });

    [GeneratedRegex(@"\[\|(.*?)\|\]", RegexOptions.Singleline)]
    private static partial Regex Markup();

    /// <summary>Strips [| |] markers and returns the spans they enclosed.</summary>
    public static (string Source, List<TextSpan> Spans) Parse(string markup)
    {
        var source = Prelude + markup;
        var spans = new List<TextSpan>();
        var builder = new System.Text.StringBuilder();
        var last = 0;
        foreach (Match m in Markup().Matches(source))
        {
            builder.Append(source, last, m.Index - last);
            spans.Add(new TextSpan(builder.Length, m.Groups[1].Length));
            builder.Append(m.Groups[1].Value);
            last = m.Index + m.Length;
        }

        builder.Append(source, last, source.Length - last);
        return (builder.ToString(), spans);
    }

    public static CSharpCompilation Compile(string source) =>
        CSharpCompilation.Create(
            "Snippet",
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest), path: "Snippet.cs")],
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(string source, DiagnosticAnalyzer analyzer)
    {
        var compilation = Compile(source);
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "the snippet must compile: " + string.Join("; ", errors));
        var diagnostics = await compilation.WithAnalyzers([analyzer]).GetAnalyzerDiagnosticsAsync();
        Assert.DoesNotContain(diagnostics, d => d.Id == "AD0001");
        return diagnostics;
    }

    /// <summary>Exactly the marked spans get <paramref name="id"/>; nothing else does.</summary>
    public static async Task VerifyAsync(string markup, DiagnosticAnalyzer analyzer, string id)
    {
        var (source, expected) = Parse(markup);
        var diagnostics = await AnalyzeAsync(source, analyzer);
        var actual = diagnostics.Where(d => d.Id == id).Select(d => d.Location.SourceSpan).OrderBy(s => s.Start).ToList();
        Assert.True(
            expected.SequenceEqual(actual),
            $"expected {id} at [{string.Join(", ", expected.Select(s => Describe(source, s)))}] but got [{string.Join(", ", actual.Select(s => Describe(source, s)))}]");
    }

    private static string Describe(string source, TextSpan span) => $"'{source.Substring(span.Start, span.Length)}'@{span.Start}";

    /// <summary>Applies the first code fix offered for the first <paramref name="id"/> diagnostic and returns the new source (without the prelude).</summary>
    public static async Task<string> ApplyFixAsync(string markup, DiagnosticAnalyzer analyzer, CodeFixProvider fix, string id, int diagnosticIndex = 0)
    {
        var (source, _) = Parse(markup);
        using var workspace = new AdhocWorkspace();
        var project = workspace.AddProject(ProjectInfo.Create(
            ProjectId.CreateNewId(), VersionStamp.Default, "Snippet", "Snippet", LanguageNames.CSharp,
            compilationOptions: new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable),
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest),
            metadataReferences: References.Value));
        var document = workspace.AddDocument(project.Id, "Snippet.cs", SourceText.From(source));
        var compilation = (await document.Project.GetCompilationAsync())!;
        var diagnostics = await compilation.WithAnalyzers([analyzer]).GetAnalyzerDiagnosticsAsync();
        var diagnostic = diagnostics.Where(d => d.Id == id).OrderBy(d => d.Location.SourceSpan.Start).ElementAt(diagnosticIndex);

        var actions = new List<CodeAction>();
        await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
        Assert.NotEmpty(actions);
        var operations = await actions[0].GetOperationsAsync(CancellationToken.None);
        var changed = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution.GetDocument(document.Id)!;
        var text = (await changed.GetTextAsync()).ToString();
        Assert.Empty((await changed.Project.GetCompilationAsync())!.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        return text[Prelude.Length..];
    }
}
