using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers.Tests;

public sealed class RuleDocumentationTests
{
    private static readonly string Root = FindRoot();

    public static TheoryData<string> Ids => new(Descriptors().Select(d => d.Id));

    private static IEnumerable<DiagnosticDescriptor> Descriptors() =>
        typeof(DiagnosticDescriptors).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor)).Select(f => (DiagnosticDescriptor)f.GetValue(null)!);

    [Fact]
    public void Every_rule_from_QR0001_to_QR0011_has_one_descriptor_and_one_analyzer()
    {
        Assert.Equal(Enumerable.Range(1, 11).Select(i => $"QR{i:0000}"), Descriptors().Select(d => d.Id).Order());
        var analyzers = typeof(DiagnosticDescriptors).Assembly.GetTypes()
            .Where(t => typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && !t.IsAbstract)
            .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!).ToList();
        Assert.Equal(Descriptors().Select(d => d.Id).Order(), analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id).Order());
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Rule_has_a_doc_page_with_bad_and_good_examples_and_a_matching_help_link(string id)
    {
        var descriptor = Descriptors().Single(d => d.Id == id);
        var page = Path.Combine(Root, "docs", "rules", id + ".md");
        Assert.True(File.Exists(page), $"docs/rules/{id}.md is missing");
        var text = File.ReadAllText(page);
        Assert.StartsWith($"# {id}", text);
        Assert.Contains("## Bad", text);
        Assert.Contains("## Good", text);
        Assert.EndsWith($"docs/rules/{id}.md", descriptor.HelpLinkUri);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Rule_has_a_release_tracking_entry_with_its_severity(string id)
    {
        var descriptor = Descriptors().Single(d => d.Id == id);
        var releases = File.ReadAllText(Path.Combine(Root, "analyzers", "RoutingSdk.Analyzers", "AnalyzerReleases.Unshipped.md"))
            + File.ReadAllText(Path.Combine(Root, "analyzers", "RoutingSdk.Analyzers", "AnalyzerReleases.Shipped.md"));
        Assert.Contains($"{id} | {descriptor.Category} | {descriptor.DefaultSeverity} |", releases);
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

        throw new InvalidOperationException("RoutingSdk.sln not found above the test assembly.");
    }
}
