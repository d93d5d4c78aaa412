using RoutingSdk.Pools;

namespace RoutingSdk.Routing;

/// <summary>
/// Where a replica is chosen: among the healthy pools of a group, by <c>UsageRatio</c> (an unavailable pool's share
/// goes to the rest of its group, vendor section 2.3), skipping the pool a retry must avoid; for asynchronous
/// replicas, only those within the operation's lag limit.
/// </summary>
internal sealed class ReplicaPicker(Random random)
{
    [Flags]
    public enum LagSeen
    {
        None = 0,
        High = 1,
        Unknown = 2,
    }

    public RoutingPool? PickAsync(RoutingPool[] pools, int? maxLagMilliseconds, RoutingPool? exclude, out LagSeen lagging)
    {
        lagging = LagSeen.None;
        double total = 0;
        foreach (var pool in pools)
        {
            if (IsUsableAsync(pool, maxLagMilliseconds, exclude, ref lagging))
            {
                total += pool.UsageRatio;
            }
        }

        if (total <= 0)
        {
            return null;
        }

        var target = random.NextDouble() * total;
        RoutingPool? last = null;
        var ignored = LagSeen.None;
        foreach (var pool in pools)
        {
            if (!IsUsableAsync(pool, maxLagMilliseconds, exclude, ref ignored))
            {
                continue;
            }

            last = pool;
            target -= pool.UsageRatio;
            if (target < 0)
            {
                return pool;
            }
        }

        return last;
    }

    public static bool IsUsableAsync(RoutingPool pool, int? maxLagMilliseconds, RoutingPool? exclude, ref LagSeen lagging)
    {
        if (IsExcluded(pool, exclude) || !pool.Health.IsAvailable)
        {
            return false;
        }

        if (maxLagMilliseconds is int limit)
        {
            var lag = pool.Health.CurrentLag;
            // Unknown lag (NaN: never measured, or measured too long ago) never satisfies a limit.
            if (double.IsNaN(lag))
            {
                lagging |= LagSeen.Unknown;
                return false;
            }

            if (lag > limit)
            {
                lagging |= LagSeen.High;
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The pool a retry must avoid, by name: a reload or a Patroni refresh between attempts builds new pool objects
    /// for the same nodes, and the failed node must stay excluded across it.
    /// </summary>
    internal static bool IsExcluded(RoutingPool pool, RoutingPool? exclude) =>
        exclude is not null && (ReferenceEquals(pool, exclude) || string.Equals(pool.Name, exclude.Name, StringComparison.OrdinalIgnoreCase));

    public RoutingPool? PickWeighted(RoutingPool[] group, RoutingPool? exclude)
    {
        if (group.Length == 1)
        {
            var only = group[0];
            return !IsExcluded(only, exclude) && only.Health.IsAvailable ? only : null;
        }

        double total = 0;
        foreach (var pool in group)
        {
            if (!IsExcluded(pool, exclude) && pool.Health.IsAvailable)
            {
                total += pool.UsageRatio;
            }
        }

        if (total <= 0)
        {
            return null;
        }

        // An unavailable pool's share is spread over the remaining ones of its group (vendor section 2.3),
        // not dumped on the primary.
        var target = random.NextDouble() * total;
        RoutingPool? last = null;
        foreach (var pool in group)
        {
            if (IsExcluded(pool, exclude) || !pool.Health.IsAvailable)
            {
                continue;
            }

            last = pool;
            target -= pool.UsageRatio;
            if (target < 0)
            {
                return pool;
            }
        }

        return last;
    }
}
