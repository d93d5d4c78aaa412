namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0003AttributeCannotTakeEffectTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report
        {
            [[|ReadReplica|]] public static void Build() { }
        }
        """,
        """
        public class Report
        {
            [[|MasterOnly|]] private void Build() { }
            public void Run() => Build();
        }
        """,
        """
        public class Report
        {
            [[|AsyncReplica(MaxLagMilliseconds = 100)|]] internal virtual void Build() { }
        }
        """,
        """
        public class Report
        {
            [[|ReadReplica|]] public void Build() { }
        }
        """,
        """
        [[|ReadReplica|]]
        public sealed class Report
        {
            public void Build() { }
        }
        """,
        """
        public interface IReport { void Build(); }
        public class Report : IReport
        {
            public void Build() { }
            [[|ReadReplica|]] public void NotOnInterface() { }
        }
        """,
        """
        [[|MasterOnly|]]
        public class Report
        {
            public virtual void Build() { }
            public void Print() { }
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class Report
        {
            [ReadReplica] public virtual void Build() { }
        }
        """,
        """
        public interface IReport { void Build(); }
        public sealed class Report : IReport
        {
            [ReadReplica] public void Build() { }
        }
        """,
        """
        public class Base { public virtual void Build() { } }
        public class Report : Base
        {
            [ReadReplica] public override void Build() { }
        }
        """,
        """
        [ReadReplica]
        public class Report
        {
            public virtual void Build() { }
        }
        """,
        """
        public interface IReport { void Build(); }
        [ReadReplica]
        public sealed class Report : IReport
        {
            public void Build() { }
        }
        """,
        """
        public abstract class Report
        {
            [MasterOnly] public abstract void Build();
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Attribute_that_cannot_take_effect_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new AttributeCannotTakeEffectAnalyzer(), "QR0003");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Interceptable_members_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new AttributeCannotTakeEffectAnalyzer(), "QR0003");

    [Fact]
    public async Task Code_fix_makes_the_method_virtual()
    {
        const string before = """
            public class Report
            {
                [ReadReplica] public void Build() { }
            }
            """;
        const string after = """
            public class Report
            {
                [ReadReplica] public virtual void Build() { }
            }
            """;
        var fixedSource = await AnalyzerHarness.ApplyFixAsync(before, new AttributeCannotTakeEffectAnalyzer(), new MakeVirtualCodeFixProvider(), "QR0003");
        Assert.Equal(after, fixedSource);
        var (source, _) = AnalyzerHarness.Parse(fixedSource);
        Assert.DoesNotContain(await AnalyzerHarness.AnalyzeAsync(source, new AttributeCannotTakeEffectAnalyzer()), d => d.Id == "QR0003");
    }

    [Fact]
    public async Task Code_fix_is_not_offered_for_static_or_private_members()
    {
        var (source, _) = AnalyzerHarness.Parse("""
            public class Report
            {
                [ReadReplica] public static void Build() { }
            }
            """);
        var diagnostic = Assert.Single(await AnalyzerHarness.AnalyzeAsync(source, new AttributeCannotTakeEffectAnalyzer()));
        Assert.False(diagnostic.Properties.ContainsKey(AttributeCannotTakeEffectAnalyzer.CanMakeVirtual));
    }
}
