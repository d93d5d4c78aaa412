using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using RoutingSdk.Health;
using RoutingSdk.IntegrationTests.EntityFrameworkCore;
using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Health;

/// <summary>Fault tests on the real processes: conflicts, dead replicas, lag, read-your-writes, the sync-commit trap.</summary>
[Collection(FaultCollection.Name)]
public sealed class ReplicaRealityTests(ClusterFixture fixture) : IAsyncLifetime
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    public async Task InitializeAsync()
    {
        await EfSchema.EnsureAsync(_cluster);
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            CREATE TABLE IF NOT EXISTS ef_routing.conflict_probe (id int PRIMARY KEY);
            INSERT INTO ef_routing.conflict_probe SELECT g FROM generate_series(1, 6) g ON CONFLICT DO NOTHING;
            """, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private ServiceProvider Services(Action<RoutingOptions> configure, RecordingObserver? observer = null)
    {
        var services = new ServiceCollection();
        services.AddQueryRouting(o =>
        {
            EfSchema.Pools(o, _cluster);
            configure(o);
        });
        if (observer is not null)
        {
            services.AddSingleton<IRouteDecisionObserver>(observer);
        }

        services.AddHealthChecks().AddQueryRoutingPools();
        services.AddDbContext<ErpTestDb>((sp, o) => o.UseNpgsql(_cluster.PrimaryConnectionString).UseQueryRouting(sp));
        return services.BuildServiceProvider();
    }

    // The aggregate returns its single row only after ~3 s, so the replay conflict cancels it before any row reached us.
    private static Task<string> SlowReportAsync(ErpTestDb db) =>
        db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') || ':' || count(*) AS \"Value\" FROM ef_routing.conflict_probe c CROSS JOIN LATERAL (SELECT pg_sleep(0.5 + 0 * c.id)) s").SingleAsync();

    // The slow report (six rows, 0.5 s each) is seen running on sync1, so it holds its AccessShareLock there: about 2.5 s
    // of it remain, more than the 1 s replay waits before it cancels the report. Not a guessed delay.
    private Task ProvokeConflictAsync() => ProvokeConflictOnceRunningAsync("%pg_sleep(0.5 + 0 * c.id)%");

    // An ACCESS EXCLUSIVE lock taken and committed on the primary: replaying it on sync1 waits
    // max_standby_streaming_delay (1 s) for the report's AccessShareLock, then cancels the report.
    private async Task LockProbeOnPrimaryAsync()
    {
        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using var cmd = new NpgsqlCommand("LOCK TABLE ef_routing.conflict_probe IN ACCESS EXCLUSIVE MODE", conn, tx);
        await cmd.ExecuteNonQueryAsync();
        await tx.CommitAsync();
    }

    [Fact]
    public async Task Recovery_conflict_on_a_replica_is_survived_by_retry_and_counted()
    {
        await WaitUntilSync1ServesAsync();
        // Only sync1 serves reads, so the first attempt surely meets the conflict there.
        await using var sp = Services(o => o.Pools.RemoveAll(p => p.Name == "sync2"));
        long retries = 0;
        using var listener = Listen("routing.retries", v => Interlocked.Add(ref retries, v));

        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        string result;
        using (RoutingScope.Begin(RouteKind.ReadReplica, "NightlyReport.Build", RoutingCategory.Report))
        {
            var report = SlowReportAsync(db);
            await ProvokeConflictAsync();
            result = await report;
        }

        Assert.Equal("primary:6", result); // the retry ran on the primary, the only node left, and returned the full answer
        Assert.True(Interlocked.Read(ref retries) >= 1);
    }

    [Fact]
    public async Task Recovery_conflict_with_retries_disabled_gives_the_user_message_and_operator_detail()
    {
        await WaitUntilSync1ServesAsync();
        await using var sp = Services(o =>
        {
            o.Pools.RemoveAll(p => p.Name == "sync2");
            o.ReadRetry.Enabled = false;
        });
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        ReplicaReadCancelledException ex;
        using (RoutingScope.Begin(RouteKind.ReadReplica, "NightlyReport.Build", RoutingCategory.Report))
        {
            var report = SlowReportAsync(db);
            await ProvokeConflictAsync();
            ex = await Assert.ThrowsAsync<ReplicaReadCancelledException>(() => report);
        }

        Assert.Equal(ReplicaReadCancelledException.UserMessage, ex.Message);
        Assert.Contains("stopped automatically", ex.Message);
        Assert.Contains("up to date", ex.Message);
        Assert.Contains("repeat the operation later", ex.Message);
        Assert.Equal("sync1", ex.PoolName);
        Assert.Equal(PostgresErrorCodes.SerializationFailure, ex.PostgresError.SqlState);
        Assert.Contains("max_standby_streaming_delay", ex.OperatorDetail);
        Assert.Contains("hot_standby_feedback", ex.OperatorDetail);
        Assert.Contains("reports on the master", ex.OperatorDetail);
    }

    // Six 5 KB rows: the first two overflow the server's 8 KB send buffer, which sends row 1 (and part of row 2) at once; from the third row on each
    // row waits 1 s, so the replay conflict (about 2 s in) cancels the report after rows were handed over.
    private static IAsyncEnumerable<string> StreamedReportAsync(ErpTestDb db) =>
        db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') || ':' || c.id || ':' || repeat('x', 5000) AS \"Value\" FROM ef_routing.conflict_probe c CROSS JOIN LATERAL (SELECT pg_sleep(CASE WHEN c.id >= 3 THEN 1 ELSE 0 END + 0 * c.id)) s").AsAsyncEnumerable();

    // An earlier test of this collection may have restarted sync1: wait until it accepts reads (a standby refuses
    // connections with 57P03 until it is consistent) and has the probe table, so the report surely starts there.
    private async Task WaitUntilSync1ServesAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await using var sync1 = new NpgsqlConnection(_cluster.Sync1ConnectionString);
                await sync1.OpenAsync();
                await using var probe = new NpgsqlCommand("SELECT count(*) FROM ef_routing.conflict_probe", sync1);
                if ((long)(await probe.ExecuteScalarAsync())! == 6)
                {
                    return;
                }
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, "sync1 did not serve the probe table within 60 s");
            await Task.Delay(200);
        }
    }

    // Provokes the conflict once the report is seen running on sync1 (by sync1's own pg_stat_activity), not after a guess.
    private async Task ProvokeConflictOnceRunningAsync(string queryLike = "%repeat('x', 5000)%")
    {
        await using var sync1 = new NpgsqlConnection(_cluster.Sync1ConnectionString);
        await sync1.OpenAsync();
        await using var running = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE $1", sync1);
        running.Parameters.AddWithValue(queryLike);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((long)(await running.ExecuteScalarAsync())! == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the report did not start on sync1 within 30 s");
            await Task.Delay(20);
        }

        await LockProbeOnPrimaryAsync();
    }

    // Starts the streamed report, provokes the conflict once it runs on sync1, and returns the report once it ended
    // (the context is disposed only after its report, whatever failed first).
    private async Task<Task<List<string>>> RunReportMeetingConflictAsync(ErpTestDb db, List<string> rows)
    {
        var report = ReadAllAsync(StreamedReportAsync(db), rows);
        try
        {
            await ProvokeConflictOnceRunningAsync();
        }
        finally
        {
            await Task.WhenAny(report);
        }

        return report;
    }

    private static async Task<List<string>> ReadAllAsync(IAsyncEnumerable<string> report, List<string> rows)
    {
        await foreach (var row in report)
        {
            rows.Add(row[..row.LastIndexOf(':')]);
        }

        return rows;
    }

    [Fact]
    public async Task Recovery_conflict_after_rows_were_handed_over_is_reported_not_retried_when_results_stream()
    {
        // The default: rows stream (ReadRetry.BufferResults off), so half a report cannot be run again.
        await WaitUntilSync1ServesAsync();
        await using var sp = Services(o => o.Pools.RemoveAll(p => p.Name == "sync2"));
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        var rows = new List<string>();
        ReplicaReadCancelledException ex;
        using (RoutingScope.Begin(RouteKind.ReadReplica, "NightlyReport.Build", RoutingCategory.Report))
        {
            ex = await Assert.ThrowsAsync<ReplicaReadCancelledException>(async () => await await RunReportMeetingConflictAsync(db, rows));
        }

        Assert.NotEmpty(rows); // rows from sync1 had reached us when the replica cancelled the rest
        Assert.True(rows.Count < 6, $"the report should have been cut short, got {rows.Count} rows");
        Assert.All(rows, r => Assert.StartsWith("sync1:", r, StringComparison.Ordinal));
        Assert.Equal("sync1", ex.PoolName);
        Assert.Equal(ReplicaReadCancelledException.UserMessage, ex.Message);
        Assert.Contains("handed to the caller", ex.OperatorDetail);
        Assert.Contains("ReadRetry.BufferResults", ex.OperatorDetail);
    }

    [Fact]
    public async Task Recovery_conflict_after_the_first_rows_is_retried_when_results_are_buffered()
    {
        await WaitUntilSync1ServesAsync();
        await using var sp = Services(o =>
        {
            o.Pools.RemoveAll(p => p.Name == "sync2");
            o.ReadRetry.BufferResults = true;
        });
        long retries = 0;
        using var listener = Listen("routing.retries", v => Interlocked.Add(ref retries, v));
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        var rows = new List<string>();
        using (RoutingScope.Begin(RouteKind.ReadReplica, "NightlyReport.Build", RoutingCategory.Report))
        {
            await await RunReportMeetingConflictAsync(db, rows);
        }

        // sync1 cancelled it while EF Core was still buffering; the primary, the only node left, gave the whole answer once.
        Assert.Equal(["primary:1", "primary:2", "primary:3", "primary:4", "primary:5", "primary:6"], rows);
        Assert.True(Interlocked.Read(ref retries) >= 1);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Dapper_style_read_through_RoutingDataSource_survives_a_recovery_conflict_or_reports_it(bool retry)
    {
        await WaitUntilSync1ServesAsync();
        await using var sp = Services(o =>
        {
            o.Pools.RemoveAll(p => p.Name == "sync2");
            o.ReadRetry.Enabled = retry;
        });
        var dataSource = sp.GetRequiredService<RoutingDataSource>();
        using var scope = RoutingScope.Begin(RouteKind.ReadReplica, "StockReport.Build", RoutingCategory.Report);
        var attempts = 0;
        var report = dataSource.ReadAsync(async (connection, ct) =>
        {
            Interlocked.Increment(ref attempts);
            await using var cmd = new NpgsqlCommand(
                "SELECT current_setting('cluster_name') || ':' || count(*) FROM ef_routing.conflict_probe c CROSS JOIN LATERAL (SELECT pg_sleep(0.5 + 0 * c.id)) s", connection);
            return (string)(await cmd.ExecuteScalarAsync(ct))!;
        });
        await ProvokeConflictAsync();

        if (retry)
        {
            Assert.Equal("primary:6", await report); // sync1 cancelled it; the only other node answered in full
            Assert.Equal(2, attempts);
        }
        else
        {
            var ex = await Assert.ThrowsAsync<ReplicaReadCancelledException>(() => report);
            Assert.Equal(("sync1", ReplicaReadCancelledException.UserMessage), (ex.PoolName, ex.Message));
            Assert.Equal(1, attempts);
        }
    }

    [Fact]
    public async Task Sync2_stopped_during_2000_reads_loses_none_and_both_stopped_fall_back_to_primary_then_return()
    {
        var observer = new RecordingObserver();
        await using var sp = Services(o => o.Health.Interval = TimeSpan.FromMilliseconds(200), observer);
        var monitor = sp.GetRequiredService<PoolHealthMonitor>();
        await monitor.StartAsync(CancellationToken.None);
        var health = sp.GetRequiredService<HealthCheckService>();
        try
        {
            var failures = 0;
            var nodes = new Dictionary<string, int>();
            for (var i = 0; i < 2_000; i++)
            {
                if (i == 300)
                {
                    await _cluster.StopNodeAsync(LocalPgCluster.Sync2);
                }

                try
                {
                    await using var scope = sp.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
                    var node = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
                    nodes[node] = nodes.GetValueOrDefault(node) + 1;
                }
                catch (Exception)
                {
                    failures++;
                }
            }

            Assert.Equal(0, failures);
            Assert.True(nodes.GetValueOrDefault("sync1") > 1_000, $"nodes: {string.Join(", ", nodes)}");
            Assert.True(nodes.GetValueOrDefault("primary") < 20, $"the stopped replica's share must go to sync1, not the primary: {string.Join(", ", nodes)}");

            var report = await health.CheckHealthAsync(r => r.Tags.Contains("routing"));
            Assert.Equal(HealthStatus.Unhealthy, report.Entries["routing-pool-sync2"].Status);
            Assert.Equal(HealthStatus.Healthy, report.Entries["routing-pool-sync1"].Status);

            // Both synchronous replicas down: reads are served by the primary.
            await _cluster.StopNodeAsync(LocalPgCluster.Sync1);
            for (var i = 0; i < 50; i++)
            {
                Assert.Equal("primary", await ReadNodeAsync(sp));
            }
        }
        finally
        {
            await _cluster.StartNodeAsync(LocalPgCluster.Sync1);
            await _cluster.StartNodeAsync(LocalPgCluster.Sync2);
        }

        // Back on replicas once the monitor readmits them.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string last;
        while ((last = await ReadNodeAsync(sp)) == "primary" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains(last, new[] { "sync1", "sync2" });
        await monitor.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Async_replica_lagging_beyond_the_limit_is_skipped_until_it_catches_up()
    {
        var observer = new RecordingObserver();
        await using var sp = Services(o => { }, observer);
        var monitor = sp.GetRequiredService<PoolHealthMonitor>();

        await WaitAsyncCaughtUpAsync(monitor, sp);
        Assert.Equal("async1", await ReadNodeAsync(sp, RouteKind.AsyncReplica, maxLag: 500));

        // A fresh write: async1 replays it only after its 2 s apply delay.
        await using (var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("UPDATE ef_routing.mixed_probe SET counter = counter + 1 WHERE id = 1", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        // 800 ms later async1 still misses that write (it is older than the 500 ms limit) and has not replayed it yet.
        await Task.Delay(800);
        await monitor.RunOnceAsync(CancellationToken.None);
        observer.Clear();
        var node = await ReadNodeAsync(sp, RouteKind.AsyncReplica, maxLag: 500);
        Assert.Contains(node, new[] { "sync1", "sync2" });
        Assert.Contains(RouteDecisionReason.LagAboveLimit, observer.Reasons);

        await WaitAsyncCaughtUpAsync(monitor, sp);
        Assert.Equal("async1", await ReadNodeAsync(sp, RouteKind.AsyncReplica, maxLag: 500));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Write_then_read_on_the_delayed_async_replica_is_never_stale_with_read_your_writes(bool readYourWrites)
    {
        await using var sp = Services(o =>
        {
            o.Consistency.ReadYourWrites = readYourWrites;
            o.Consistency.ReadYourWritesMaxWait = TimeSpan.FromMilliseconds(10);
        });
        var iterations = readYourWrites ? 500 : 50;
        var stale = 0;
        var asyncReads = 0;
        for (var i = 0; i < iterations; i++)
        {
            await using var scope = sp.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            using var operation = RoutingScope.Begin(RouteKind.AsyncReplica, "InvoicePrintForm.PrintNew", RoutingCategory.PrintForm);
            var customer = new Customer { Name = $"RYW {readYourWrites} {i}" };
            db.Customers.Add(customer);
            await db.SaveChangesAsync();
            db.ChangeTracker.Clear();

            var seen = await db.Database.SqlQuery<string>(
                $"SELECT current_setting('cluster_name') || ':' || count(*) AS \"Value\" FROM ef_routing.customers WHERE id = {customer.Id}").SingleAsync();
            if (seen.EndsWith(":0", StringComparison.Ordinal))
            {
                stale++;
            }

            if (seen.StartsWith("async1", StringComparison.Ordinal))
            {
                asyncReads++;
            }
        }

        if (readYourWrites)
        {
            Assert.Equal(0, stale);
        }
        else
        {
            Assert.True(stale > 0, "control: without read-your-writes the delayed async replica must serve stale reads");
            Assert.Equal(iterations, asyncReads);
        }
    }

    [Fact]
    public async Task Causal_token_from_another_timeline_sends_the_read_to_the_primary()
    {
        await using var sp = Services(o => o.Consistency.ReadYourWritesMaxWait = TimeSpan.FromMilliseconds(10));
        var dataSource = sp.GetRequiredService<RoutingDataSource>();
        var token = await dataSource.GetCausalTokenAsync();
        Assert.EndsWith("@1", token.ToString()); // this cluster never failed over: timeline 1

        // The same position on another timeline (as after a failover): async1 streams timeline 1, so it cannot be trusted
        // to hold the write; a synchronous replica would not be sure either. The primary serves.
        var fromAnotherTimeline = CausalToken.Parse(token.ToString().Replace("@1", "@2", StringComparison.Ordinal));
        using (var scope = RoutingScope.Begin(RouteKind.AsyncReplica, "Other.Service"))
        {
            scope.WaitFor(fromAnotherTimeline);
            await using var read = await dataSource.OpenConnectionAsync();
            await using var query = new NpgsqlCommand("SELECT current_setting('cluster_name')", read);
            Assert.Equal("primary", (string)(await query.ExecuteScalarAsync())!);
        }

        await Task.Delay(2_500); // async1 replays 2 s late
        using (var same = RoutingScope.Begin(RouteKind.AsyncReplica, "Other.Service2"))
        {
            same.WaitFor(token);
            await using var again = await dataSource.OpenConnectionAsync();
            await using var query = new NpgsqlCommand("SELECT current_setting('cluster_name')", again);
            Assert.Equal("async1", (string)(await query.ExecuteScalarAsync())!); // same timeline, replayed: the async replica may serve
        }
    }

    [Fact]
    public async Task Causal_token_carries_a_write_to_another_operation()
    {
        await using var sp = Services(o => o.Consistency.ReadYourWritesMaxWait = TimeSpan.FromMilliseconds(10));
        var dataSource = sp.GetRequiredService<RoutingDataSource>();
        int id;
        await using (var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("INSERT INTO ef_routing.customers(name) VALUES ('causal') RETURNING id", conn);
            id = (int)(await cmd.ExecuteScalarAsync())!;
        }

        var token = CausalToken.Parse((await dataSource.GetCausalTokenAsync()).ToString()); // as it would travel in a header
        using var scope = RoutingScope.Begin(RouteKind.AsyncReplica, "Other.Service");
        scope.WaitFor(token);
        await using var read = await dataSource.OpenConnectionAsync();
        await using var query = new NpgsqlCommand($"SELECT current_setting('cluster_name') || ':' || count(*) FROM ef_routing.customers WHERE id = {id}", read);
        var seen = (string)(await query.ExecuteScalarAsync())!;
        Assert.EndsWith(":1", seen);
        Assert.DoesNotContain("async1", seen); // async1 is 2 s behind: a synchronous replica served it
    }

    [Fact]
    public async Task Commit_with_a_sync_replica_down_ends_within_the_timeout_as_not_confirmed_and_keeps_the_row()
    {
        await using var sp = Services(o => o.Consistency.CommitTimeout = TimeSpan.FromSeconds(2));
        var name = "unconfirmed-" + Guid.NewGuid().ToString("N")[..8];
        var elapsed = Stopwatch.StartNew();
        SynchronousReplicationNotConfirmedException? ex;
        string nextRead;
        try
        {
            await _cluster.StopNodeAsync(LocalPgCluster.Sync2);
            await using var scope = sp.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
            using var operation = RoutingScope.Begin(RouteKind.ReadReplica, "OrderEntry.Save");
            ex = await Assert.ThrowsAsync<SynchronousReplicationNotConfirmedException>(async () =>
            {
                await using var tx = await db.Database.BeginTransactionAsync();
                db.Customers.Add(new Customer { Name = name });
                await db.SaveChangesAsync();
                await tx.CommitAsync();
            });
            elapsed.Stop();
            nextRead = await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();

            // Outside an explicit transaction the statement commits itself; the timeout bounds it just the same.
            var autocommit = await Assert.ThrowsAsync<SynchronousReplicationNotConfirmedException>(
                () => db.Database.ExecuteSqlAsync($"INSERT INTO ef_routing.customers(name) VALUES ({name + "-auto"})"));
            Assert.Contains("canceling wait for synchronous replication", autocommit.Notice);
        }
        finally
        {
            await _cluster.StartNodeAsync(LocalPgCluster.Sync2);
        }

        Assert.InRange(elapsed.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(10));
        Assert.Contains("canceling wait for synchronous replication", ex.Notice);
        Assert.Contains("Do not repeat the write", ex.Message);
        Assert.Equal("primary", nextRead); // the rest of the operation reads from the primary

        await using var conn = new NpgsqlConnection(_cluster.PrimaryConnectionString);
        await conn.OpenAsync();
        await using var check = new NpgsqlCommand($"SELECT count(*) FROM ef_routing.customers WHERE name IN ('{name}', '{name}-auto')", conn);
        Assert.Equal(2L, await check.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Topology_verification_passes_on_the_cluster_and_names_every_problem_of_a_misconfigured_pool()
    {
        await using (var good = Services(o => { }))
        {
            Assert.Empty(await good.GetRequiredService<PoolHealthMonitor>().VerifyTopologyAsync(CancellationToken.None));
        }

        await using var bad = Services(o =>
        {
            o.Pools.RemoveAll(p => p.Name == "async1");
            o.Pools.Add(new RoutingPoolOptions { Name = "wrongly-sync", Role = PoolRole.SyncReplica, ConnectionString = _cluster.Async1ConnectionString });
            o.Health.VerifyTopologyAtStart = TopologyVerification.Fail;
        });
        var monitor = bad.GetRequiredService<PoolHealthMonitor>();
        var problems = await monitor.VerifyTopologyAsync(CancellationToken.None);
        Assert.Contains(problems, p => p.StartsWith("SyncReplica pool 'wrongly-sync': node 'async1' is not in the primary's synchronous quorum (pg_stat_replication.sync_state: async)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("SyncReplica pool 'wrongly-sync': node 'async1' has hot_standby_feedback = off", StringComparison.Ordinal));
        var ex = await Assert.ThrowsAsync<RoutingConfigurationException>(() => monitor.StartAsync(CancellationToken.None));
        Assert.Equal(problems, ex.Problems);
    }

    private static async Task<string> ReadNodeAsync(IServiceProvider sp, RouteKind route = RouteKind.ReadReplica, int? maxLag = null)
    {
        await using var scope = sp.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ErpTestDb>();
        using var routing = RoutingScope.Begin(route, maxLagMilliseconds: maxLag);
        return await db.Database.SqlQuery<string>($"SELECT current_setting('cluster_name') AS \"Value\"").SingleAsync();
    }

    private static async Task WaitAsyncCaughtUpAsync(PoolHealthMonitor monitor, IServiceProvider sp)
    {
        var router = sp.GetRequiredService<RoutingSdk.Routing.QueryRouter>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await monitor.RunOnceAsync(CancellationToken.None);
            if (router.Topology.FindPool("async1")!.Health.LagMilliseconds == 0)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "async1 did not catch up within 30 s");
            await Task.Delay(200);
        }
    }

    private static MeterListener Listen(string instrument, Action<long> onValue)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == "RoutingSdk" && i.Name == instrument)
                {
                    l.EnableMeasurementEvents(i);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => onValue(value));
        listener.Start();
        return listener;
    }

    public sealed class RecordingObserver : IRouteDecisionObserver
    {
        private readonly List<RouteDecisionReason> _reasons = [];

        public List<RouteDecisionReason> Reasons
        {
            get
            {
                lock (_reasons)
                {
                    return [.. _reasons];
                }
            }
        }

        public void Clear()
        {
            lock (_reasons)
            {
                _reasons.Clear();
            }
        }

        public void OnDecision(in RouteDecision decision)
        {
            lock (_reasons)
            {
                _reasons.Add(decision.Reason);
            }
        }
    }
}
