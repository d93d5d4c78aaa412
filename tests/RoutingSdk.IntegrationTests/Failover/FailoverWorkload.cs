using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace RoutingSdk.IntegrationTests.Failover;

/// <summary>
/// The workload of the failover tests: writers save rows with unique keys in [MasterOnly] operations, readers read in
/// [ReadReplica] operations; every outcome is recorded with its time, and the disruption runs at a given offset.
/// </summary>
internal sealed class FailoverWorkload
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public ConcurrentQueue<(Guid Key, TimeSpan At, TimeSpan Started)> Acknowledged { get; } = new();

    public ConcurrentQueue<(TimeSpan At, Exception Error)> WriteFailures { get; } = new();

    public ConcurrentQueue<Guid> FailedKeys { get; } = new();

    public ConcurrentQueue<(TimeSpan At, Exception Error)> ReadFailures { get; } = new();

    public ConcurrentDictionary<string, int> ReadsByNode { get; } = new();

    public TimeSpan DisruptedAt { get; private set; }

    public string DisruptionResult { get; private set; } = "";

    public static async Task<FailoverWorkload> RunAsync(IServiceProvider services, TimeSpan duration, TimeSpan disruptAfter, Func<Task<string>> disrupt, int writers = 4, int readers = 4)
    {
        var workload = new FailoverWorkload();
        using var stop = new CancellationTokenSource(duration);
        var tasks = new List<Task>();
        for (var w = 0; w < writers; w++)
        {
            var worker = w;
            tasks.Add(Task.Run(() => workload.WriteLoopAsync(services, worker, stop.Token)));
        }

        for (var r = 0; r < readers; r++)
        {
            tasks.Add(Task.Run(() => workload.ReadLoopAsync(services, stop.Token)));
        }

        await Task.Delay(disruptAfter);
        workload.DisruptedAt = workload._clock.Elapsed;
        workload.DisruptionResult = await disrupt();
        await Task.WhenAll(tasks);
        return workload;
    }

    private async Task WriteLoopAsync(IServiceProvider services, int worker, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var key = Guid.NewGuid();
            var started = _clock.Elapsed;
            try
            {
                await using var scope = services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<HaDb>();
                using var routing = RoutingScope.Begin(RouteKind.MasterOnly, "OrderEntry.Save", RoutingCategory.Interface);
                db.Probes.Add(new HaProbe { Key = key, Worker = worker });
                await db.SaveChangesAsync(CancellationToken.None);
                Acknowledged.Enqueue((key, _clock.Elapsed, started));
            }
            catch (Exception ex)
            {
                WriteFailures.Enqueue((_clock.Elapsed, ex));
                FailedKeys.Enqueue(key);
            }

            await Task.Delay(10, CancellationToken.None);
        }
    }

    private async Task ReadLoopAsync(IServiceProvider services, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var scope = services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<HaDb>();
                using var routing = RoutingScope.Begin(RouteKind.ReadReplica, "SalesReport.Build", RoutingCategory.Report);
                var node = await db.Database.SqlQuery<string>($"SELECT 'port' || inet_server_port() || ':' || (SELECT count(*) FROM ha.ha_probe WHERE worker = 0) AS \"Value\"").SingleAsync(CancellationToken.None);
                ReadsByNode.AddOrUpdate(node.Split(':')[0], 1, (_, n) => n + 1);
            }
            catch (Exception ex)
            {
                ReadFailures.Enqueue((_clock.Elapsed, ex));
            }

            await Task.Delay(10, CancellationToken.None);
        }
    }

    /// <summary>The write-unavailability window: the longest time without an acknowledged write, from the disruption on.</summary>
    public TimeSpan WriteUnavailability()
    {
        var acks = Acknowledged.Select(a => a.At).Where(a => a >= DisruptedAt).Order().Prepend(DisruptedAt).ToList();
        return acks.Zip(acks.Skip(1), (a, b) => b - a).DefaultIfEmpty(TimeSpan.MaxValue).Max();
    }

    public string Describe() =>
        $"acknowledged {Acknowledged.Count}, write failures {WriteFailures.Count} ({string.Join(", ", WriteFailures.GroupBy(f => f.Error.GetType().Name).Select(g => $"{g.Key}: {g.Count()}"))}), " +
        $"read failures {ReadFailures.Count}, reads by node {string.Join(", ", ReadsByNode.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"))}, " +
        $"disrupted at {DisruptedAt.TotalSeconds:0.0} s ({DisruptionResult}), write unavailability {WriteUnavailability().TotalSeconds:0.00} s";

    public static bool IsWriteOnReplica(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is WriteOnReplicaException || e is Npgsql.PostgresException { SqlState: Npgsql.PostgresErrorCodes.ReadOnlySqlTransaction })
            {
                return true;
            }
        }

        return false;
    }
}
