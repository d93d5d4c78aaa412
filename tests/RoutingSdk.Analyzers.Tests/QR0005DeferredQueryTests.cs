namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0005DeferredQueryTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual [|IQueryable<Order>|] Build() => db.Orders.Where(o => o.Qty > 0);
        }
        """,
        """
        public class Report(Db db)
        {
            [AsyncReplica] public virtual [|Task<IQueryable<Order>>|] BuildAsync() => Task.FromResult<IQueryable<Order>>(db.Orders);
        }
        """,
        """
        public interface IReport { [ReadReplica] IEnumerable<Order> Build(); }
        public class Report(Db db) : IReport
        {
            public IEnumerable<Order> Build()
            {
                var q = db.Orders.Where(o => o.Qty > 0);
                return [|q.OrderBy(o => o.Id)|];
            }
        }
        """,
        """
        [ReadReplica]
        public class Report(Db db)
        {
            public virtual [|IOrderedQueryable<Order>|] Sorted() => db.Orders.OrderBy(o => o.Id);
        }
        """,
        """
        public class Report(Db db)
        {
            [MasterOnly] public virtual IEnumerable<int> Ids() => [|db.Orders.Select(o => o.Id)|];
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual List<Order> Build() => db.Orders.Where(o => o.Qty > 0).ToList();
        }
        """,
        """
        public class Plain(Db db)
        {
            public IQueryable<Order> Build() => db.Orders;
        }
        """,
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual IEnumerable<Order> Stream()
            {
                foreach (var o in db.Orders.Where(o => o.Qty > 0)) yield return o;
            }
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual IEnumerable<int> Ids() => new[] { 1, 2 };
        }
        """,
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual Task<List<Order>> BuildAsync() => db.Orders.ToListAsync();
        }
        """,
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual IAsyncEnumerable<Order> Stream() => db.Orders.AsAsyncEnumerable();
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Deferred_query_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new DeferredQueryAnalyzer(), "QR0005");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Materialized_and_streamed_results_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new DeferredQueryAnalyzer(), "QR0005");
}
