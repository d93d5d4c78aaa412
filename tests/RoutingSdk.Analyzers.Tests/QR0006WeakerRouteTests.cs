namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0006WeakerRouteTests
{
    private const string Services = """
        public interface ISalesReport { [ReadReplica] int Build(); }
        public interface IPrintForm { [AsyncReplica] int Print(); }
        public interface IOrderEntry { [MasterOnly] void Save(); }
        """;

    public static TheoryData<string> Positive => new()
    {
        Services + """
        public class OrderForm(ISalesReport report)
        {
            [MasterOnly] public virtual int Save() => [|report.Build()|];
        }
        """,
        Services + """
        public class OrderForm(IPrintForm form)
        {
            [MasterOnly] public virtual int Save() => [|form.Print()|];
        }
        """,
        Services + """
        public class Report(IPrintForm form)
        {
            [ReadReplica] public virtual int Build() => [|form.Print()|];
        }
        """,
        Services + """
        [MasterOnly]
        public class OrderForm(ISalesReport report)
        {
            public virtual void Save() { Func<int> f = () => [|report.Build()|]; f(); }
        }
        """,
        Services + """
        public interface IForm { [MasterOnly] int Open(); }
        public class Form(ISalesReport report, IPrintForm print) : IForm
        {
            public int Open() => [|report.Build()|] + [|print.Print()|];
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        Services + """
        public class Report(IOrderEntry entry)
        {
            [ReadReplica] public virtual void Build() => entry.Save();
        }
        """,
        Services + """
        public class Report(ISalesReport other)
        {
            [ReadReplica] public virtual int Build() => other.Build();
        }
        """,
        Services + """
        public class Plain(ISalesReport report)
        {
            public int Build() => report.Build();
        }
        """,
        Services + """
        public class Print(ISalesReport report)
        {
            [AsyncReplica] public virtual int Run() => report.Build();
        }
        """,
        Services + """
        public class Recursive
        {
            [MasterOnly] public virtual int Count(int n) => n == 0 ? 0 : Count(n - 1);
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Weaker_route_called_from_stricter_one_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new WeakerRouteAnalyzer(), "QR0006");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Equal_or_stricter_callees_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new WeakerRouteAnalyzer(), "QR0006");

    [Fact]
    public async Task Severity_is_info()
    {
        var (source, _) = AnalyzerHarness.Parse(Services + """
            public class OrderForm(ISalesReport report) { [MasterOnly] public virtual int Save() => report.Build(); }
            """);
        var diagnostic = Assert.Single(await AnalyzerHarness.AnalyzeAsync(source, new WeakerRouteAnalyzer()));
        Assert.Equal(Microsoft.CodeAnalysis.DiagnosticSeverity.Info, diagnostic.Severity);
        Assert.Equal("'Build' is routed to ReadReplica but is called from 'Save', routed to MasterOnly; it will run at MasterOnly", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }
}
