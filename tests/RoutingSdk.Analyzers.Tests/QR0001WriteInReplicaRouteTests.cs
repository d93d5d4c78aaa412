namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0001WriteInReplicaRouteTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual void Build() { [|db.SaveChanges()|]; }
        }
        """,
        """
        public class PrintForm(Db db)
        {
            [AsyncReplica(MaxLagMilliseconds = 500)] public virtual async Task Print() { await [|db.SaveChangesAsync()|]; }
        }
        """,
        """
        [ReadReplica(Category = RoutingCategory.Report)]
        public class Stock(Db db)
        {
            public virtual int Reset() => [|db.Orders.Where(o => o.Id == 1).ExecuteUpdate(s => s.SetProperty(o => o.Qty, 0))|];
        }
        """,
        """
        public interface ICleanup { [ReadReplica] Task<int> RunAsync(); }
        public class Cleanup(Db db) : ICleanup
        {
            public Task<int> RunAsync() => [|db.Orders.Where(o => o.Qty == 0).ExecuteDeleteAsync()|];
        }
        """,
        """
        public class Sales(Db db)
        {
            [ReadReplica] public virtual void Build()
            {
                Action purge = () => [|db.Database.ExecuteSqlRaw("DELETE FROM orders")|];
                purge();
                void Local() => [|db.Database.ExecuteSql($"DELETE FROM orders")|];
                Local();
            }
        }
        """,
        """
        [AsyncReplica]
        public partial class Split(Db db) { }
        public partial class Split
        {
            public virtual void Save() => [|db.SaveChanges()|];
        }
        """,
        """
        public class Repository<T>(Db db) where T : class
        {
            [ReadReplica] public virtual Task<int> Touch() => [|db.SaveChangesAsync(CancellationToken.None)|];
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class OrderEntry(Db db)
        {
            [MasterOnly] public virtual void Save() { db.SaveChanges(); }
        }
        """,
        """
        public class Plain(Db db)
        {
            public void Save() { db.SaveChanges(); }
        }
        """,
        """
        public class Ledger { public int SaveChanges() => 0; }
        public class Report(Ledger ledger)
        {
            [ReadReplica] public virtual int Build() => ledger.SaveChanges();
        }
        """,
        """
        public interface IOrderEntry { [MasterOnly] void Run(Action work); }
        public class Report(Db db, IOrderEntry entry)
        {
            [ReadReplica] public virtual void Build() { entry.Run(() => db.SaveChanges()); }
        }
        """,
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual List<Order> Build() => db.Orders.Where(o => o.Qty > 0).ToList();
        }
        """,
        """
        [ReadReplica]
        public class Mixed(Db db)
        {
            [MasterOnly] public virtual void Save() => db.SaveChanges();
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Write_in_replica_route_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new WriteInReplicaRouteAnalyzer(), "QR0001");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Look_alikes_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new WriteInReplicaRouteAnalyzer(), "QR0001");
}
