using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;
using RoutingSdk.Retry;
using RoutingSdk.Routing;

namespace RoutingSdk.Health;

/// <summary>
/// Checks every pool in the background: reachable, role (<c>pg_is_in_recovery()</c>), replay lag in bytes and time
/// against the primary, and for synchronous replicas whether the primary lists them as sync/quorum. A failing pool
/// is evicted at once and readmitted after consecutive good checks.
/// </summary>
internal sealed partial class PoolHealthMonitor : IHostedService, IAsyncDisposable, IDisposable
{
    private int _started;
    private readonly QueryRouter _router;
    private readonly PoolHealthRegistry _registry;
    private readonly ILogger<PoolHealthMonitor> _logger;
    private CancellationTokenSource? _stopping;
    private Task? _loop;
    private int _disposed;

    public PoolHealthMonitor(QueryRouter router, PoolHealthRegistry registry, ILogger<PoolHealthMonitor> logger)
    {
        _router = router;
        _registry = registry;
        _logger = logger;
        router.Metrics.Meter.CreateObservableGauge("routing.replica.lag", ObserveLag, unit: "ms", description: "Replay lag of each replica pool against the primary.");
    }

    /// <summary>
    /// The health settings in force: those of the last valid configuration (the router's snapshot), never a reload
    /// that failed validation (an Interval of 0 would hammer every node, a negative one would stop the loop).
    /// </summary>
    internal HealthMonitorOptions Options => _router.Topology.Options.Health;

    /// <summary>Started by the host: with <c>VerifyTopologyAtStart = Fail</c> a problem stops the host from starting.</summary>
    public Task StartAsync(CancellationToken cancellationToken) => StartCoreAsync(hosted: true, cancellationToken);

    /// <summary>
    /// Started by the first routing decision when no host does it; a failure is logged, never thrown at a query. The
    /// application is already serving then, so <c>VerifyTopologyAtStart = Fail</c> cannot stop it: the problems are
    /// logged as errors and the monitor runs anyway — it is what evicts a replica that is unsafe to read.
    /// </summary>
    public async Task StartOnFirstUseAsync()
    {
        try
        {
            await StartCoreAsync(hosted: false, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            MonitorFailed(_logger, ex);
        }
    }

    private async Task StartCoreAsync(bool hosted, CancellationToken cancellationToken)
    {
        var options = Options;
        if (!options.Enabled || Interlocked.Exchange(ref _started, 1) != 0)
        {
            return; // disabled, or already started (by the host or on first use)
        }

        // Published before the first round: a stop or dispose during it ends it, and no loop starts afterwards.
        var stopping = new CancellationTokenSource();
        var stopped = stopping.Token;
        _stopping = stopping;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopped);
        try
        {
            if (options.VerifyTopologyAtStart != TopologyVerification.Off)
            {
                var problems = await VerifyTopologyAsync(linked.Token).ConfigureAwait(false);
                if (problems.Count > 0 && options.VerifyTopologyAtStart == TopologyVerification.Fail)
                {
                    if (hosted)
                    {
                        throw new RoutingConfigurationException(problems);
                    }

                    MonitorFailed(_logger, new RoutingConfigurationException(problems));
                }
                else
                {
                    foreach (var problem in problems)
                    {
                        TopologyProblem(_logger, problem);
                    }
                }
            }

            await RunOnceAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopped.IsCancellationRequested)
        {
            return;
        }

        if (stopped.IsCancellationRequested)
        {
            return;
        }

        // Lag older than three rounds (each bounded by two check timeouts) is not trusted by decisions.
        _registry.MaxLagAge = (long)(3 * (options.Interval + 2 * options.CheckTimeout)).TotalMilliseconds;
        _registry.MonitorActive = true;
        using (ExecutionContext.SuppressFlow()) // no caller's TransactionScope or RoutingScope in the checks
        {
            _loop = Task.Run(() => LoopAsync(stopped), CancellationToken.None);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _registry.MonitorActive = false;
        var stopping = Interlocked.Exchange(ref _stopping, null);
        if (stopping is null)
        {
            return;
        }

        await stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is null)
        {
            return; // stopped during the first round: StartCoreAsync sees it and starts no loop
        }

        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            stopping.Dispose();
        }
    }

    private async Task LoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(NextDelay(Options.Interval, Random.Shared), stopping).ConfigureAwait(false);
                await RunOnceAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                MonitorFailed(_logger, ex);
            }
        }
    }

    /// <summary>
    /// The pause before the next round: <paramref name="interval"/> ± 10%, drawn afresh every round, so application
    /// instances started together (a deployment, a restart of every server) drift apart instead of checking the
    /// primary in lockstep; on average a round still comes every <paramref name="interval"/>.
    /// </summary>
    internal static TimeSpan NextDelay(TimeSpan interval, Random random) =>
        TimeSpan.FromTicks((long)(interval.Ticks * (0.9 + 0.2 * random.NextDouble())));

    /// <summary>One round of checks over every pool.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var topology = _router.Topology;
        var options = topology.Options.Health;
        // Every Primary-role pool is checked, so that a recovered one is readmitted and a second one is known; the
        // facts of the first one that answers as a primary judge the replicas.
        // A Role=Primary pool that only serves reads (AcceptTxSession=false) is checked as a primary too.
        var primaries = topology.WritePools.Concat(topology.Pools.Where(p => p.Role == PoolRole.Primary && !p.AcceptTxSession));
        var primaryChecks = await Task.WhenAll(primaries.Select(p => CheckPrimaryAsync(p, options, cancellationToken))).ConfigureAwait(false);
        var primaryFacts = primaryChecks.FirstOrDefault(f => f.Known) ?? new PrimaryFacts(false, null, new Dictionary<string, string>(StringComparer.Ordinal), null, "");
        var replicas = topology.Pools.Where(p => p.Role != PoolRole.Primary).ToArray();
        var answersAsPrimary = await Task.WhenAll(replicas.Select(p => CheckReplicaAsync(p, primaryFacts, options, cancellationToken))).ConfigureAwait(false);

        // A failover behind RoutingSdk's back (configured pools, no discovery): no configured primary answers as one,
        // and exactly one replica pool does. That is a topology change to follow, not only an eviction.
        var promoted = replicas.Where((_, i) => answersAsPrimary[i]).ToArray();
        if (!topology.Discovered && !primaryChecks.Any(f => f.Known) && promoted.Length == 1)
        {
            _router.FollowPromotion(promoted[0]);
        }
    }

    /// <summary>
    /// What the primary said; <see cref="Known"/> is false when it could not be asked (then nothing is judged by it).
    /// <see cref="AskedAt"/> is Environment.TickCount64 just before the primary was asked for its WAL position.
    /// </summary>
    private sealed record PrimaryFacts(bool Known, ulong? Lsn, Dictionary<string, string> SyncStates, SynchronousStandbyNames? StandbyNames, string StandbyNamesSetting, long AskedAt = 0);

    /// <summary>
    /// Leads every statement the monitor sends, so that its checks can be told apart from the application's traffic
    /// in <c>pg_stat_statements</c> and <c>pg_stat_activity</c> (and left out of a count of the application's statements).
    /// </summary>
    internal const string Marker = "/* RoutingSdk:health */ ";

    /// <summary>
    /// The primary's check, one statement per round: role, node, WAL position, synchronous_standby_names, and the
    /// connected standbys as two arrays, application names and sync states (both aggregates read the same rows in the
    /// same order, so the arrays line up; NULL when no standby is connected).
    /// </summary>
    /// <remarks>
    /// The standbys come from the two functions the <c>pg_stat_replication</c> view joins (PostgreSQL 10+ column names),
    /// not from the view: rewriting and planning the view cost the primary about 0.9 ms of CPU per check, the functions
    /// joined directly about 0.1 ms (measured with pgbench on the local topology). What they show is the view's: the
    /// sync state stays hidden from a login without pg_monitor.
    /// </remarks>
    private const string PrimarySql =
        Marker + "SELECT pg_is_in_recovery(), current_setting('cluster_name'), " +
        "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END, current_setting('synchronous_standby_names'), r.names, r.states " +
        "FROM (SELECT array_agg(a.application_name) AS names, array_agg(w.sync_state) AS states " +
        "FROM pg_stat_get_wal_senders() w JOIN pg_stat_get_activity(NULL::integer) a ON a.pid = w.pid) r";

    private IEnumerable<Measurement<double>> ObserveLag()
    {
        foreach (var pool in _router.Topology.Pools)
        {
            if (pool.Role != PoolRole.Primary && !double.IsNaN(pool.Health.LagMilliseconds))
            {
                yield return new Measurement<double>(pool.Health.LagMilliseconds, new KeyValuePair<string, object?>("pool", pool.Name));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Registered as itself and as IHostedService: DI may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    [LoggerMessage(35, LogLevel.Error, "Node of pool {Pool} answers nothing ({Problem}): connections in use there are aborted, their statements end now instead of at their command timeout")]
    private static partial void Lost(ILogger logger, string pool, string? problem);

    [LoggerMessage(30, LogLevel.Warning, "Pool {Pool} evicted from routing: {Problem}")]
    private static partial void Evicted(ILogger logger, string pool, string problem);

    [LoggerMessage(31, LogLevel.Information, "Pool {Pool} readmitted after consecutive good health checks")]
    private static partial void Readmitted(ILogger logger, string pool);

    [LoggerMessage(32, LogLevel.Error, "Pool {Pool} answers as {Actual} but is configured as {Configured}")]
    private static partial void RoleMismatchLog(ILogger logger, string pool, string actual, string configured);

    [LoggerMessage(33, LogLevel.Warning, "Topology check: {Problem}")]
    private static partial void TopologyProblem(ILogger logger, string problem);

    [LoggerMessage(34, LogLevel.Error, "Health monitor round failed")]
    private static partial void MonitorFailed(ILogger logger, Exception exception);
}
