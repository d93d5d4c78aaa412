using Microsoft.Extensions.Logging;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;

namespace RoutingSdk.Routing;

/// <summary>
/// Waiting for a primary: during an election (no primary in the topology) and after a primary connection failed with
/// nothing sent. Bounded by <c>Failover.PrimaryWaitTimeout</c>; woken by every topology change.
/// </summary>
internal sealed class PrimaryWait(TopologyOwner owner, PoolDataSources dataSources, RoutingMetrics metrics, ILogger logger)
{
    /// <summary>What RoutingSdk knows of the cluster, for messages: Patroni's members, or the primary pools' health.</summary>
    public string ClusterState
    {
        get
        {
            if (owner.DiscoveryState is { } discovered)
            {
                return discovered;
            }

            var primaries = owner.Topology.WritePools;
            return primaries.Length == 0
                ? "no pool has Role=Primary"
                : string.Join(", ", primaries.Select(p => $"{p.DisplayName}: {(p.Health.IsAvailable ? "available" : "evicted")}{(p.Health.LastProblem is { } why ? " (" + why + ")" : "")}"));
        }
    }

    /// <summary>
    /// The primary of a topology: the highest-priority healthy one. With none healthy, configured pools hand out the
    /// first one anyway (a VIP or multi-host string may reach a new primary on the next open); discovered pools have
    /// none (<see langword="null"/>: an election), and the write waits for Patroni's next leader instead of knocking on
    /// a dead or demoted node.
    /// </summary>
    public static RoutingPool? Pick(RoutingTopology topology)
    {
        foreach (var pool in topology.WritePools)
        {
            if (pool.Health.IsAvailable)
            {
                return pool;
            }
        }

        return topology.Discovered || topology.WritePools.Length == 0 ? null : topology.WritePools[0];
    }

    /// <summary>The primary, waiting for one (bounded by Failover.PrimaryWaitTimeout) while there is none (an election).</summary>
    public async ValueTask<RoutingPool> PrimaryAsync(CancellationToken cancellationToken)
    {
        long deadline = 0;
        while (true)
        {
            if (Pick(owner.Topology) is { } primary)
            {
                return primary;
            }

            deadline = deadline == 0 ? Deadline() : deadline;
            if (!await WaitForChange(deadline, async: true, cancellationToken).ConfigureAwait(false))
            {
                throw new PrimaryUnavailableException(ClusterState, owner.Topology.Options.Failover.PrimaryWaitTimeout, null);
            }
        }
    }

    /// <summary>When a write that starts now stops waiting for a primary (Environment.TickCount64).</summary>
    public long Deadline() => Environment.TickCount64 + (long)owner.Topology.Options.Failover.PrimaryWaitTimeout.TotalMilliseconds;

    /// <summary>The primary's connection failed: takes the pool out and drops its idle connections (they point at a dead or demoted node).</summary>
    public void Failed(RoutingPool failed, string problem)
    {
        // A node the monitor found lost: evicted already, its idle connections dropped when it was first refused.
        if (failed.Health.IsLost)
        {
            return;
        }

        if (failed.Health.EvictAfterFailedAttempt(problem))
        {
            metrics.Evictions.Add(1, new KeyValuePair<string, object?>("pool", failed.Name));
            RoutingLog.PrimaryLost(logger, failed.DisplayName, problem);
        }

        dataSources.Clear(failed.Name, failed.ConnectionString);
    }

    /// <summary>
    /// After a primary connection failed with nothing sent (it did not open, or the node refused a write as read-only):
    /// <see cref="Failed"/>, then waits a moment or for a topology change before the caller tries again.
    /// Past <paramref name="deadline"/> it throws <see cref="PrimaryUnavailableException"/>.
    /// </summary>
    public async ValueTask AfterFailure(RoutingPool failed, Exception failure, long deadline, bool async, CancellationToken cancellationToken)
    {
        Failed(failed, failure.Message);
        if (!await WaitForChange(deadline, async, cancellationToken).ConfigureAwait(false))
        {
            throw new PrimaryUnavailableException(ClusterState, owner.Topology.Options.Failover.PrimaryWaitTimeout, failure);
        }
    }

    /// <summary>
    /// A primary refused a write as read-only (SQLSTATE 25006). Asked afresh (through the same pool: behind a VIP
    /// possibly another node), it is read-only on purpose only if it is not in recovery and sessions start read-only
    /// (<c>default_transaction_read_only = on</c>): then the message for the caller (nothing was written, nothing is
    /// retried, the pool stays in). Otherwise, or when it cannot be asked, null: handled as a demotion.
    /// </summary>
    public string? ConfirmNotDemoted(RoutingPool pool)
    {
        try
        {
            using var conn = pool.DataSource.OpenConnection();
            using var watchdog = Pools.NodeWatch.AbortAfter(conn, owner.Topology.Options.Health.CheckTimeout, "RoutingSdk: the demotion check did not answer in time");
            using var cmd = new Npgsql.NpgsqlCommand("/* RoutingSdk:health */ SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')", conn) { CommandTimeout = 0 };
            using var reader = cmd.ExecuteReader();
            reader.Read();
            if (reader.GetBoolean(0) || reader.GetString(1) != "on")
            {
                // A standby now: a real demotion. Or a node that would accept our writes: the refusal came from another
                // node (the old primary behind a VIP that has already moved) or from the statement's own transaction —
                // either way not maintenance, so the caller goes on as for a demotion.
                return null;
            }

            return $"The primary {pool.DisplayName} refused the write as read-only (SQLSTATE 25006) but is not in recovery: it is read-only on purpose " +
                "(default_transaction_read_only = on for RoutingSdk's login), e.g. during maintenance. Nothing was written " +
                "and RoutingSdk does not retry it; run the write again once the primary accepts writes.";
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException or InvalidOperationException or IOException)
        {
            return null; // cannot tell: treat it as the demotion it most likely is
        }
    }

    /// <summary>Past the deadline: the election did not end in time.</summary>
    public PrimaryUnavailableException Unavailable() => new(ClusterState, owner.Topology.Options.Failover.PrimaryWaitTimeout, null);

    /// <summary>Waits for a topology change or a short poll interval, whichever comes first; false when the deadline passed.</summary>
    public async ValueTask<bool> WaitForChange(long deadline, bool async, CancellationToken cancellationToken)
    {
        var remaining = deadline - Environment.TickCount64;
        if (remaining <= 0)
        {
            return false;
        }

        var wait = TimeSpan.FromMilliseconds(Math.Min(remaining, 250));
        var changed = owner.Changed;
        if (async)
        {
            await Task.WhenAny(changed, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
        else
        {
            changed.Wait(wait, cancellationToken);
        }

        return true;
    }
}
