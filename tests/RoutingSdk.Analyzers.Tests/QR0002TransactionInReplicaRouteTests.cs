namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0002TransactionInReplicaRouteTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual void Build() { using var tx = [|db.Database.BeginTransaction()|]; }
        }
        """,
        """
        public class Report(Db db)
        {
            [AsyncReplica] public virtual async Task Build() { await using var tx = await [|db.Database.BeginTransactionAsync()|]; }
        }
        """,
        """
        [ReadReplica]
        public class Report
        {
            public virtual void Build() { using var scope = [|new TransactionScope()|]; }
        }
        """,
        """
        public interface IReport { [ReadReplica] void Build(System.Data.Common.DbTransaction tx); }
        public class Report(Db db) : IReport
        {
            public void Build(System.Data.Common.DbTransaction tx) { [|db.Database.UseTransaction(tx)|]; }
        }
        """,
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual void Build()
            {
                var connection = Microsoft.EntityFrameworkCore.RelationalDatabaseFacadeExtensions.GetDbConnection(db.Database);
                using var tx = [|connection.BeginTransaction()|];
            }
        }
        """,
        """
        public class Report
        {
            [AsyncReplica] public virtual void Build()
            {
                Func<TransactionScope> make = () => [|new TransactionScope(TransactionScopeAsyncFlowOption.Enabled)|];
                make().Dispose();
            }
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class OrderEntry(Db db)
        {
            [MasterOnly] public virtual void Save() { using var tx = db.Database.BeginTransaction(); }
        }
        """,
        """
        public class Plain
        {
            public void Save() { using var scope = new TransactionScope(); }
        }
        """,
        """
        public interface IOrderEntry { [MasterOnly] void Run(Action work); }
        public class Report(IOrderEntry entry)
        {
            [ReadReplica] public virtual void Build() { entry.Run(() => { using var s = new TransactionScope(); }); }
        }
        """,
        """
        public class Bank { public IDisposable BeginTransaction() => new System.IO.MemoryStream(); }
        public class Report(Bank bank)
        {
            [ReadReplica] public virtual void Build() { using var t = bank.BeginTransaction(); }
        }
        """,
        """
        public class Report
        {
            [ReadReplica] public virtual TransactionOptions Build() => new TransactionOptions();
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Transaction_in_replica_route_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new TransactionInReplicaRouteAnalyzer(), "QR0002");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Look_alikes_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new TransactionInReplicaRouteAnalyzer(), "QR0002");
}
