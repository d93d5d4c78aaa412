namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0009InvalidAttributeArgumentTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report { [AsyncReplica([|MaxLagMilliseconds = 0|])] public virtual void Print() { } }
        """,
        """
        public class Report { [AsyncReplica([|MaxLagMilliseconds = -5|])] public virtual void Print() { } }
        """,
        """
        public class Report { [ReadReplica([|Scenario = ""|])] public virtual void Build() { } }
        """,
        """
        [MasterOnly(Category = RoutingCategory.Interface, [|Scenario = "   "|])]
        public class Form { }
        """,
        """
        public static class Limits { public const int None = 0; }
        public class Report { [AsyncReplica([|MaxLagMilliseconds = Limits.None|], [|Scenario = ""|])] public virtual void Print() { } }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class Report { [AsyncReplica(MaxLagMilliseconds = 100)] public virtual void Print() { } }
        """,
        """
        public class Report { [ReadReplica(Scenario = "Sales.Build")] public virtual void Build() { } }
        """,
        """
        public class Report { [ReadReplica] public virtual void Build() { } }
        """,
        """
        public class Report { [ReadReplica(Category = RoutingCategory.Report)] public virtual void Build() { } }
        """,
        """
        [AttributeUsage(AttributeTargets.Method)] public sealed class AuditAttribute : Attribute { public string? Scenario { get; set; } public int MaxLagMilliseconds { get; set; } }
        public class Report { [Audit(Scenario = "", MaxLagMilliseconds = 0)] public void Build() { } }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Invalid_arguments_are_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new InvalidAttributeArgumentAnalyzer(), "QR0009");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Valid_arguments_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new InvalidAttributeArgumentAnalyzer(), "QR0009");
}
