using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using ErpReports.Operations;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RoutingSdk;

namespace ErpReports.Workload;

public sealed record WorkloadOptions(TimeSpan Duration, int Concurrency);

/// <summary>
/// Runs the ERP mix on many workers: order entry, print of the new invoice, sales report, old invoice prints, customer
/// cards, and one nightly report. Each operation belongs to a tenant, picked at random: its <see cref="TenantScope"/>
/// sends every statement of the operation to that tenant's cluster.
/// </summary>
public sealed class WorkloadRunner(IServiceProvider services, DecisionRecorder recorder, ServerStatistics statistics, IReadOnlyList<SampleTenant> tenants)
{
    private readonly ConcurrentDictionary<string, long> _completed = new();
    private readonly ConcurrentDictionary<string, long> _completedByTenant = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private long _retries;
    private long _evictions;
    private double _maxAsyncLag;

    public async Task<WorkloadResult> RunAsync(WorkloadOptions options, CancellationToken cancellationToken)
    {
        recorder.Reset();
        var before = await statistics.SnapshotAsync(cancellationToken);
        using var meters = ListenToMeters();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(options.Duration);
        var clock = Stopwatch.StartNew();

        var workers = Enumerable.Range(0, options.Concurrency).Select(i => Task.Run(() => WorkerAsync(i, options, stop.Token), CancellationToken.None)).ToList();
        var nightly = Task.Run(() => NightlyWithConflictAsync(stop.Token), CancellationToken.None);
        var progress = Task.Run(() => ProgressAsync(clock, options.Duration, stop.Token), CancellationToken.None);
        await Task.WhenAll(workers);
        var nightlyResult = await nightly;
        await progress;
        Console.WriteLine();

        var after = await statistics.SnapshotAsync(cancellationToken);
        var server = after.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));
        return new WorkloadResult(
            clock.Elapsed, options.Concurrency, new Dictionary<string, long>(_completed), _errors.ToList(),
            recorder.ByPool.ToDictionary(kv => kv.Key, kv => kv.Value), recorder.ByReason.ToDictionary(kv => kv.Key, kv => kv.Value),
            server, Interlocked.Read(ref _retries), Interlocked.Read(ref _evictions), recorder.UnconfirmedCommits, _maxAsyncLag, nightlyResult)
        {
            Tenants = tenants,
            CompletedByTenant = new Dictionary<string, long>(_completedByTenant),
            DecisionsByTenant = recorder.ByTenant.ToDictionary(kv => kv.Key, kv => kv.Value),
        };
    }

    private async Task WorkerAsync(int worker, WorkloadOptions options, CancellationToken stop)
    {
        var random = new Random(1_000 + worker);
        while (!stop.IsCancellationRequested)
        {
            var dice = random.Next(100);
            var operation = dice switch { < 10 => "OrderEntry", < 35 => "SalesReport", < 45 => "InvoicePrint", _ => "CustomerCard" };
            var tenant = tenants[random.Next(tenants.Count)];

            // The tenant of this operation, as a request's middleware (UseRoutingTenant) or a job's loop would set it.
            using var tenantScope = tenant.Name is null ? null : TenantScope.Begin(tenant.Name);
            try
            {
                await using var scope = services.CreateAsyncScope();
                var sp = scope.ServiceProvider;
                switch (operation)
                {
                    case "OrderEntry":
                        var lines = Enumerable.Range(0, 1 + random.Next(4)).Select(_ => (1 + random.Next(500), 1 + random.Next(9))).DistinctBy(l => l.Item1).ToList();
                        var created = await sp.GetRequiredService<IOrderEntryForm>().CreateOrderAsync(1 + random.Next(tenant.Customers), lines, CancellationToken.None);
                        Count(operation, tenant);

                        // Print the invoice just created, as the user would: another operation, with the order entry's causal token.
                        await using (var printScope = services.CreateAsyncScope())
                        {
                            var printed = await printScope.ServiceProvider.GetRequiredService<IInvoicePrintForm>().PrintAsync(created.InvoiceId, created.Token, CancellationToken.None);
                            if (printed is null)
                            {
                                _errors.Enqueue($"InvoicePrint: invoice {created.InvoiceId} just created was not found (stale read)");
                            }

                            Count("InvoicePrint", tenant);
                        }

                        break;
                    case "SalesReport":
                        var month = DateTime.UtcNow.AddDays(-random.Next(330));
                        await sp.GetRequiredService<ISalesReport>().TopCustomersAsync(month, month.AddDays(30), CancellationToken.None);
                        Count(operation, tenant);
                        break;
                    case "InvoicePrint":
                        await sp.GetRequiredService<IInvoicePrintForm>().PrintAsync(1 + random.Next(tenant.MaxInvoiceId), null, CancellationToken.None);
                        Count(operation, tenant);
                        break;
                    default:
                        // Unannotated: RouteKind.Default follows RoutingOptions.DefaultRoute; the scope only names the operation for the table.
                        using (RoutingScope.Begin(RouteKind.Default, "CustomerCard.Open", RoutingCategory.Interface))
                        {
                            await sp.GetRequiredService<ICustomerCard>().OpenAsync(1 + random.Next(tenant.Customers), CancellationToken.None);
                        }

                        Count(operation, tenant);
                        break;
                }
            }
            catch (Exception ex)
            {
                _errors.Enqueue($"{operation}: {ex.GetType().Name}: {ex.Message}");
            }
        }
    }

    /// <summary>
    /// Runs the nightly report for the first tenant and, while it reads on a replica of its cluster, takes an exclusive
    /// lock on that cluster's primary (as DDL or VACUUM truncation would): replaying it cancels the report, which
    /// RoutingSdk retries.
    /// </summary>
    private async Task<string> NightlyWithConflictAsync(CancellationToken stop)
    {
        await Task.Delay(TimeSpan.FromSeconds(2), stop).ContinueWith(_ => { }, TaskScheduler.Default);
        var tenant = tenants[0];
        using var tenantScope = tenant.Name is null ? null : TenantScope.Begin(tenant.Name);
        var primaryConnectionString = services.GetRequiredService<RoutingPools>().PrimaryConnectionString; // the tenant's cluster's
        await using var scope = services.CreateAsyncScope();
        var report = scope.ServiceProvider.GetRequiredService<INightlyReport>().RunAsync(CancellationToken.None);
        await Task.Delay(700, CancellationToken.None);
        await using (var conn = new NpgsqlConnection(primaryConnectionString))
        {
            await conn.OpenAsync(CancellationToken.None);
            await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
            await using var cmd = new NpgsqlCommand("LOCK TABLE erp.invoices IN ACCESS EXCLUSIVE MODE", conn, tx);
            await cmd.ExecuteNonQueryAsync(CancellationToken.None);
            await tx.CommitAsync(CancellationToken.None);
        }

        try
        {
            var result = await report;
            Count("NightlyReport", tenant);
            return result;
        }
        catch (Exception ex)
        {
            _errors.Enqueue($"NightlyReport: {ex.GetType().Name}: {ex.Message}");
            return "failed: " + ex.Message;
        }
    }

    private async Task ProgressAsync(Stopwatch clock, TimeSpan duration, CancellationToken stop)
    {
        var pools = services.GetRequiredService<RoutingPools>();
        var nextLine = TimeSpan.FromSeconds(5);
        while (!stop.IsCancellationRequested)
        {
            foreach (var pool in pools.GetStatus().Where(p => p.Role == PoolRole.AsyncReplica))
            {
                var lag = pool.LagMilliseconds;
                if (!double.IsNaN(lag) && lag > _maxAsyncLag)
                {
                    _maxAsyncLag = lag;
                }
            }

            var total = _completed.Values.Sum();
            var progress = $"  {clock.Elapsed.TotalSeconds,5:F1}/{duration.TotalSeconds:F0} s  {total,7:N0} operations  {total / Math.Max(0.1, clock.Elapsed.TotalSeconds),6:N0}/s  retries {Interlocked.Read(ref _retries)}  errors {_errors.Count}";
            if (Console.IsOutputRedirected)
            {
                // A log file or a pipe: a line every few seconds, not one endless line of carriage returns.
                if (clock.Elapsed >= nextLine)
                {
                    Console.WriteLine(progress);
                    nextLine += TimeSpan.FromSeconds(5);
                }
            }
            else
            {
                Console.Write("\r" + progress + "   ");
            }

            await Task.Delay(250, CancellationToken.None);
        }
    }

    private void Count(string operation, SampleTenant tenant)
    {
        _completed.AddOrUpdate(operation, 1, static (_, n) => n + 1);
        _completedByTenant.AddOrUpdate(tenant.Label, 1, static (_, n) => n + 1);
    }

    private MeterListener ListenToMeters()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "RoutingSdk" && instrument.Name is "routing.retries" or "routing.evictions")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "routing.retries")
            {
                Interlocked.Add(ref _retries, value);
            }
            else
            {
                Interlocked.Add(ref _evictions, value);
            }
        });
        listener.Start();
        return listener;
    }
}
