using RoutingSdk.EntityFrameworkCore.Interception;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Per-query routing for EF Core.</summary>
public static class QueryRoutingQueryableExtensions
{
    /// <summary>
    /// Sends this query to the primary whatever the operation's route: for a query that reads like a query but writes
    /// or locks — <c>FromSql</c> with <c>nextval()</c>, <c>SELECT ... FOR UPDATE</c>, a function that modifies data —
    /// which a read-only replica refuses (SQLSTATE 25006). Works by a query tag (<c>-- RoutingSdk:OnPrimary</c>).
    /// </summary>
    public static IQueryable<T> OnPrimary<T>(this IQueryable<T> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return source.TagWith(EfRoutingCore.PrimaryTag);
    }
}
