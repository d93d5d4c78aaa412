using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers.Tests;

/// <summary>samples/ErpReports/Mistakes: each file makes exactly its own rule fire (with the sample's real model).</summary>
public sealed class SampleMistakesTests
{
    private static readonly string SampleRoot = Path.Combine(FindRoot(), "samples", "ErpReports");

    private static IEnumerable<string> FileNames() => Directory.GetFiles(Path.Combine(SampleRoot, "Mistakes"), "QR*.cs").Select(f => Path.GetFileName(f)).Order();

    public static TheoryData<string> Files => new(FileNames());

    [Fact]
    public void There_is_one_mistake_per_rule()
    {
        Assert.Equal(Enumerable.Range(1, 11).Select(i => $"QR{i:0000}"), FileNames().Select(f => f[..6]));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Mistake_fires_its_rule(string file)
    {
        var id = file[..6];
        var model = await File.ReadAllTextAsync(Path.Combine(SampleRoot, "Model", "ErpDb.cs"));
        var mistake = await File.ReadAllTextAsync(Path.Combine(SampleRoot, "Mistakes", file));
        var compilation = AnalyzerHarness.Compile("global using System; global using System.Linq; global using System.Threading.Tasks; global using System.Collections.Generic;")
            .AddSyntaxTrees(CSharpSyntaxTree.ParseText(model, new CSharpParseOptions(LanguageVersion.Latest)), CSharpSyntaxTree.ParseText(mistake, new CSharpParseOptions(LanguageVersion.Latest)));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && !d.Id.StartsWith("QR", StringComparison.Ordinal)));

        var analyzers = typeof(DiagnosticDescriptors).Assembly.GetTypes()
            .Where(t => typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && !t.IsAbstract)
            .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!).ToArray();
        var diagnostics = await compilation.WithAnalyzers([.. analyzers]).GetAnalyzerDiagnosticsAsync();
        Assert.DoesNotContain(diagnostics, d => d.Id == "AD0001");
        Assert.Equal([id], diagnostics.Select(d => d.Id).Distinct());
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RoutingSdk.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("RoutingSdk.sln not found.");
    }
}
