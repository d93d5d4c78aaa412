namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0010ReadShapedWriteTests
{
    public static TheoryData<string> Positive => new()
    {
        """
        public class Numbers(Db db)
        {
            [ReadReplica] public virtual Task<long> NextAsync() => db.Database.SqlQuery<long>([|$"SELECT nextval('order_numbers') AS \"Value\""|]).SingleAsync();
        }
        """,
        """
        [ReadReplica(Category = RoutingCategory.Report)]
        public class Locking(Db db)
        {
            public virtual List<Order> Lock(int id) => db.Orders.FromSql([|$"SELECT * FROM orders WHERE id = {id} FOR   UPDATE"|]).ToList();
        }
        """,
        """
        public class Raw(Db db)
        {
            [AsyncReplica] public virtual List<Order> Take() => db.Orders.FromSqlRaw([|"SELECT * FROM orders FOR NO KEY UPDATE SKIP LOCKED"|]).Where(o => o.Qty > 0).ToList();
        }
        """,
        """
        public class Consts(Db db)
        {
            private const string Sql = "SELECT setval('s', 1) AS \"Value\"";
            [ReadReplica] public virtual long Reset() => db.Database.SqlQueryRaw<long>([|Sql|]).Single();
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        """
        public class Numbers(Db db)
        {
            [ReadReplica] public virtual Task<long> NextAsync() => db.Database.SqlQuery<long>($"SELECT nextval('order_numbers') AS \"Value\"").OnPrimary().SingleAsync();
        }
        """,
        """
        public class Locking(Db db)
        {
            [ReadReplica] public virtual List<Order> Lock(int id) => db.Orders.FromSql($"SELECT * FROM orders WHERE id = {id} FOR UPDATE").Where(o => o.Qty > 0).OnPrimary().ToList();
        }
        """,
        """
        public class OrderEntry(Db db)
        {
            [MasterOnly] public virtual List<Order> Lock(int id) => db.Orders.FromSql($"SELECT * FROM orders WHERE id = {id} FOR UPDATE").ToList();
        }
        """,
        """
        public class Report(Db db)
        {
            [ReadReplica] public virtual List<Order> Build() => db.Orders.FromSql($"SELECT * FROM orders WHERE note = 'for update later'").ToList();
        }
        """,
        """
        public class Plain(Db db)
        {
            public long Next() => db.Database.SqlQuery<long>($"SELECT nextval('s') AS \"Value\"").Single();
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Read_shaped_write_in_replica_route_is_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new ReadShapedWriteAnalyzer(), "QR0010");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Marked_or_primary_routed_or_harmless_queries_are_not_reported(string markup) => AnalyzerHarness.VerifyAsync(markup, new ReadShapedWriteAnalyzer(), "QR0010");
}
