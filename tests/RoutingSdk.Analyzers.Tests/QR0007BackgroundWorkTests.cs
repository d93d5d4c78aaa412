namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0007BackgroundWorkTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report
        {
            [ReadReplica] public virtual void Build() { [|Task.Run(() => { })|]; }
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual void Build() { [|ThreadPool.QueueUserWorkItem(_ => { })|]; }
        }
        """,
        """
        public class Report
        {
            [MasterOnly] public virtual void Build() { [|Task.Factory.StartNew(() => { })|]; }
        }
        """,
        """
        public class Report(Db db)
        {
            [AsyncReplica] public virtual void Build() { [|db.Orders.ToListAsync()|]; }
        }
        """,
        """
        [ReadReplica]
        public class Report
        {
            public virtual void Build() { _ = [|Helper()|]; }
            private static async Task Helper() => await Task.Yield();
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class Report
        {
            [ReadReplica] public virtual async Task Build() { await Task.Run(() => { }); }
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual async Task Build() { var t = Task.Run(() => 1); await t; }
        }
        """,
        """
        public class Plain
        {
            public void Build() { Task.Run(() => { }); }
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual Task Build() => Task.CompletedTask;
        }
        """,
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual async ValueTask<int> Build() => await db.Orders.CountAsync();
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Background_work_in_routed_method_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new BackgroundWorkAnalyzer(), "QR0007");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Awaited_work_is_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new BackgroundWorkAnalyzer(), "QR0007");
}
