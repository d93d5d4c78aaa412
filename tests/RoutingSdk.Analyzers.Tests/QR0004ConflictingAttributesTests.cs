namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0004ConflictingAttributesTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report
        {
            [ReadReplica][[|MasterOnly|]] public virtual void Build() { }
        }
        """,
        """
        [ReadReplica, [|AsyncReplica|]]
        public class Report { public virtual void Build() { } }
        """,
        """
        public interface IReport
        {
            [MasterOnly]
            [[|ReadReplica(Category = RoutingCategory.Report)|]]
            void Build();
        }
        """,
        """
        public class Report
        {
            [AsyncReplica][[|ReadReplica|]][[|MasterOnly|]] public virtual void Build() { }
        }
        """,
        """
        [MasterOnly]
        [Serializable]
        [[|ReadReplica|]]
        public class Report { }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class Report { [ReadReplica] public virtual void Build() { } }
        """,
        """
        [ReadReplica]
        public class Report { [MasterOnly] public virtual void Save() { } }
        """,
        """
        public interface IReport { [ReadReplica] void Build(); }
        public class Report : IReport { [MasterOnly] public void Build() { } }
        """,
        """
        public class Report { [ReadReplica][Obsolete] public virtual void Build() { } }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual void Build() { }
            [MasterOnly] public virtual void Save() { }
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Conflicting_attributes_are_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new ConflictingAttributesAnalyzer(), "QR0004");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Single_routes_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new ConflictingAttributesAnalyzer(), "QR0004");

    [Fact]
    public async Task Code_fix_removes_the_conflicting_attribute_list()
    {
        const string before = """
            public class Report
            {
                [ReadReplica]
                [MasterOnly]
                public virtual void Build() { }
            }
            """;
        const string after = """
            public class Report
            {
                [ReadReplica]
                public virtual void Build() { }
            }
            """;
        Assert.Equal(after, await AnalyzerHarness.ApplyFixAsync(before, new ConflictingAttributesAnalyzer(), new RemoveAttributeCodeFixProvider(), "QR0004"));
    }

    [Fact]
    public async Task Code_fix_removes_one_attribute_from_a_shared_list()
    {
        const string before = """
            [ReadReplica, AsyncReplica]
            public class Report { }
            """;
        const string after = """
            [ReadReplica]
            public class Report { }
            """;
        Assert.Equal(after, await AnalyzerHarness.ApplyFixAsync(before, new ConflictingAttributesAnalyzer(), new RemoveAttributeCodeFixProvider(), "QR0004"));
    }
}
