namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0008AsyncVoidTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report
        {
            [ReadReplica] public virtual async void [|Build|]() => await Task.Yield();
        }
        """,
        """
        public interface IReport { [AsyncReplica] void Build(); }
        public class Report : IReport
        {
            public async void [|Build|]() => await Task.Yield();
        }
        """,
        """
        [MasterOnly]
        public class Report
        {
            public virtual async void [|Save|]() => await Task.Yield();
        }
        """,
        """
        [ReadReplica]
        public interface IReport { void Build(); }
        public class Report : IReport
        {
            public async void [|Build|]() { await Task.Delay(1); }
        }
        """,
        """
        public class Report<T>
        {
            [AsyncReplica(MaxLagMilliseconds = 10)] public virtual async void [|Print|](T item) => await Task.Yield();
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class Report
        {
            [ReadReplica] public virtual async Task Build() => await Task.Yield();
        }
        """,
        """
        public class Form
        {
            public async void OnClick(object sender, EventArgs e) => await Task.Yield();
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual void Build() { }
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual async ValueTask Build() => await Task.Yield();
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual void Build() { Action a = async () => await Task.Yield(); a(); }
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Async_void_routed_method_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new AsyncVoidAnalyzer(), "QR0008");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Other_methods_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new AsyncVoidAnalyzer(), "QR0008");
}
