using System.Diagnostics.Metrics;
using RoutingSdk.Diagnostics;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.AspNetCore.Dashboard;

/// <summary>
/// What the operations page shows over time, gathered from RoutingSdk's own meter (a <see cref="MeterListener"/> on
/// this application's meter only): reads per second per node and per category, the share off the primary, recent
/// retries, fallbacks, evictions and unconfirmed commits, and each pool's replay lag sampled every second.
/// Costs nothing until the page is mapped; then one lock per routing decision.
/// </summary>
internal sealed class RoutingActivityCollector : IDisposable
{
    public const int HistorySeconds = 60;
    public const int MaxEvents = 50;

    private readonly QueryRouter _router;
    private readonly MeterListener _listener = new();
    private readonly Timer _timer;
    private readonly object _lock = new();
    private Dictionary<string, long> _poolReads = new(StringComparer.Ordinal);
    private Dictionary<string, long> _categoryReads = new(StringComparer.Ordinal);
    private readonly Queue<Sample> _history = new();
    private readonly Dictionary<string, Queue<double?>> _lag = new(StringComparer.Ordinal);
    private readonly LinkedList<ActivityEvent> _events = new();
    private readonly Dictionary<(string Category, string Pool), long> _categoryPool = new();
    private long _reads;
    private long _readsOffPrimary;
    private long _writes;

    public RoutingActivityCollector(QueryRouter router, TimeProvider? time = null)
    {
        _router = router;
        Time = time ?? TimeProvider.System;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, router.Metrics.Meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
        _timer = new Timer(_ => Roll(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public TimeProvider Time { get; }

    /// <summary>One second of reads.</summary>
    public sealed record Sample(DateTimeOffset At, IReadOnlyDictionary<string, long> ByPool, IReadOnlyDictionary<string, long> ByCategory);

    /// <summary>A retry, fallback, eviction or unconfirmed commit, with its reason; repeats in a row are counted, not listed.</summary>
    public sealed record ActivityEvent(DateTimeOffset At, string Kind, string Pool, string Reason, int Count = 1);

    // The meter tags the reason by name: the router's own notion of "may write", as names.
    private static readonly HashSet<string> WriteReasons =
        Enum.GetValues<RouteDecisionReason>().Where(QueryRouter.MayWrite).Select(RoutingMetrics.Name).ToHashSet(StringComparer.Ordinal);

    private static bool IsRead(string? reason) => reason is null || !WriteReasons.Contains(reason);

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? pool = null, reason = null, category = null, kind = null;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "pool": pool = tag.Value as string; break;
                case "reason": reason = tag.Value as string; break;
                case "category": category = tag.Value as string; break;
                case "kind": kind = tag.Value as string; break;
            }
        }

        pool ??= "?";
        switch (instrument.Name)
        {
            case "routing.decisions":
                var read = IsRead(reason);
                var offPrimary = read && _router.Topology.FindPool(pool) is { AcceptTxSession: false };
                lock (_lock)
                {
                    if (!read)
                    {
                        _writes += value;
                        return;
                    }

                    _reads += value;
                    _readsOffPrimary += offPrimary ? value : 0;
                    _poolReads[pool] = _poolReads.GetValueOrDefault(pool) + value;
                    var c = category ?? nameof(RoutingCategory.Other);
                    _categoryReads[c] = _categoryReads.GetValueOrDefault(c) + value;
                    _categoryPool[(c, pool)] = _categoryPool.GetValueOrDefault((c, pool)) + value;
                }

                break;
            case "routing.retries":
                Add("retry", pool, kind ?? "retried on another node");
                break;
            case "routing.fallbacks":
                Add("fallback", pool, $"{reason} ({category})");
                break;
            case "routing.evictions":
                Add("eviction", pool, _router.Topology.FindPool(pool)?.Health.LastProblem ?? "taken out of rotation");
                break;
            case "routing.commits.unconfirmed":
                Add("unconfirmed commit", pool, "the synchronous replicas did not confirm the commit; the operation's reads stay on the primary");
                break;
        }
    }

    private void Add(string kind, string pool, string reason)
    {
        lock (_lock)
        {
            // A burst of the same fallback (every AsyncReplica read while a replica lags) must not push an eviction off the list.
            if (_events.First is { Value: var last } newest && last.Kind == kind && last.Pool == pool && last.Reason == reason)
            {
                newest.Value = last with { At = Time.GetUtcNow(), Count = last.Count + 1 };
                return;
            }

            _events.AddFirst(new ActivityEvent(Time.GetUtcNow(), kind, pool, reason));
            while (_events.Count > MaxEvents)
            {
                _events.RemoveLast();
            }
        }
    }

    /// <summary>Closes the current second: its reads join the history, and every pool's lag is sampled.</summary>
    internal void Roll()
    {
        var pools = _router.Topology.Pools;
        lock (_lock)
        {
            _history.Enqueue(new Sample(Time.GetUtcNow(), _poolReads, _categoryReads));
            _poolReads = new(StringComparer.Ordinal);
            _categoryReads = new(StringComparer.Ordinal);
            while (_history.Count > HistorySeconds)
            {
                _history.Dequeue();
            }

            foreach (var pool in pools)
            {
                if (!_lag.TryGetValue(pool.Name, out var series))
                {
                    _lag[pool.Name] = series = new Queue<double?>();
                }

                series.Enqueue(Lag(pool));
                while (series.Count > HistorySeconds)
                {
                    series.Dequeue();
                }
            }
        }
    }

    /// <summary>A replica's replay lag in ms; <see langword="null"/> for the primary, before the first check, or when unknown.</summary>
    internal static double? Lag(RoutingPool pool) =>
        pool.Role == PoolRole.Primary || pool.Health.LastCheck is null || !double.IsFinite(pool.Health.LagMilliseconds) ? null : Math.Round(pool.Health.LagMilliseconds, 1);

    /// <summary>A consistent copy of what was gathered.</summary>
    public (Sample[] History, ActivityEvent[] Events, Dictionary<string, double?[]> Lag, long Reads, long ReadsOffPrimary, long Writes) Snapshot()
    {
        lock (_lock)
        {
            return (_history.ToArray(), _events.ToArray(), _lag.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal), _reads, _readsOffPrimary, _writes);
        }
    }

    /// <summary>Reads since the page's host started, by category and by the pool that served them.</summary>
    public Dictionary<string, Dictionary<string, long>> ReadsByCategoryAndPool()
    {
        lock (_lock)
        {
            return _categoryPool.GroupBy(kv => kv.Key.Category, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.ToDictionary(kv => kv.Key.Pool, kv => kv.Value, StringComparer.Ordinal), StringComparer.Ordinal);
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _listener.Dispose();
    }
}
