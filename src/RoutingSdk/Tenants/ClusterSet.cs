using System.Collections.Frozen;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RoutingSdk.Configuration;
using RoutingSdk.Diagnostics;
using RoutingSdk.Health;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Tenants;

/// <summary>
/// Which cluster a statement belongs to. With one cluster configured it is that cluster, always (no tenant needed,
/// nothing changes). With several (<see cref="RoutingOptions.Clusters"/>) it is the current <see cref="TenantScope"/>'s
/// cluster from <see cref="TenantOptions.Map"/>, else <see cref="TenantOptions.DefaultCluster"/>, else nothing is sent
/// (<see cref="TenantNotResolvedException"/>). It also keeps an operation and a transaction on one cluster, holds a
/// frozen tenant's writes, and follows reloads of the map (a tenant added, moved, frozen; a cluster added).
/// </summary>
internal sealed partial class ClusterSet : IHostedService, IDisposable
{
    private readonly RoutingCluster? _single;
    private readonly IServiceProvider? _services;
    private readonly ILogger _logger;
    private readonly object _applyLock = new();
    private readonly ClusterBindings _bindings = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _frozenInCode = new(StringComparer.OrdinalIgnoreCase);
    private volatile Snapshot _snapshot = Snapshot.Empty;
    private IDisposable? _subscription;
    private int _started;

    /// <summary>A single-cluster set around an existing router (tests, and the application's one cluster).</summary>
    public ClusterSet(QueryRouter router, Func<PoolHealthMonitor?>? monitor = null)
    {
        _single = new RoutingCluster(null, router, monitor ?? (() => null), owned: false);
        _logger = router.Logger;
    }

    /// <summary>DI: one cluster from the application's registrations, or one per <see cref="RoutingOptions.Clusters"/> entry.</summary>
    public ClusterSet(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptionsMonitor<RoutingOptions>>();
        _logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("RoutingSdk.Tenants");
        if (!IsMultiCluster(options.CurrentValue))
        {
            _single = new RoutingCluster(null, services.GetRequiredService<QueryRouter>(), services.GetService<PoolHealthMonitor>, owned: false)
            {
                Registry = services.GetRequiredService<PoolHealthRegistry>(),
                DataSources = services.GetRequiredService<PoolDataSources>(),
            };
            return;
        }

        _services = services;
        foreach (var warning in services.GetServices<RoutingConfigurationWarning>())
        {
            RoutingLog.ConfigurationWarning(_logger, warning.Message);
        }

        lock (_applyLock)
        {
            _snapshot = Build(options.CurrentValue, Snapshot.Empty, services.GetServices<RoutingConfigurationSection>());
        }

        _subscription = options.OnChange(Reload);
    }

    public static bool IsMultiCluster(RoutingOptions options) => options.Clusters is { Count: > 0 };

    /// <summary>Whether several clusters are configured.</summary>
    public bool IsMulti => _single is null;

    /// <summary>
    /// The cluster that answers for the application as a whole where one must (the DI registrations of a single
    /// router, the primary's connection string for <c>UseNpgsql</c>): the one cluster, else the default cluster, else
    /// the first by name.
    /// </summary>
    public RoutingCluster Fallback => _single ?? _snapshot.Fallback!;

    /// <summary>Every cluster, by name (one unnamed entry for a single-cluster configuration).</summary>
    public IReadOnlyCollection<RoutingCluster> Clusters => _single is { } single ? [single] : _snapshot.Clusters.Values;

    /// <summary>The tenant map in force: tenant → cluster name.</summary>
    public IReadOnlyDictionary<string, string> Map => _snapshot.Map.ToDictionary(e => e.Key, e => e.Value.Name!, StringComparer.OrdinalIgnoreCase);

    public TenantOptions TenantOptions => _snapshot.Options;

    /// <summary>
    /// The cluster of the current tenant, for a statement about to be routed. Writes (<paramref name="mayWrite"/>) of a
    /// frozen tenant wait, bounded, for the freeze to end. Throws, with nothing sent, when no cluster can be told
    /// (<see cref="TenantNotResolvedException"/>), when the operation or transaction belongs to another cluster
    /// (<see cref="CrossClusterOperationException"/>), or when a freeze outlasts the wait (<see cref="TenantFrozenException"/>).
    /// </summary>
    /// <remarks>
    /// Within a tenant scope it also takes the tenant's connection slot on that cluster (<see cref="Resolved.Lease"/>):
    /// release it when the connection closes, or at once if none opens. A write's slot is taken before the freeze is
    /// checked, so a freeze either sees the write running (and waits for it) or the write sees the freeze (and waits).
    /// </remarks>
    public ValueTask<Resolved> ResolveAsync(RoutingScope? scope, bool mayWrite, bool async, CancellationToken cancellationToken) =>
        _single is { } single ? new(new Resolved(single, null)) : ResolveMultiAsync(scope, mayWrite, Use.Open, async, cancellationToken);

    /// <summary>Synchronous form of <see cref="ResolveAsync"/>.</summary>
    public Resolved Resolve(RoutingScope? scope, bool mayWrite) => ResolveSync(scope, mayWrite, Use.Open);

    /// <summary>
    /// The cluster of a statement, without taking a connection slot (nothing will be opened through RoutingSdk now) and
    /// without waiting for a freeze (a write checks the freeze when its connection opens). Binds the operation and
    /// transaction like <see cref="Resolve"/>.
    /// </summary>
    public RoutingCluster ClusterFor(RoutingScope? scope) => ResolveSync(scope, mayWrite: false, Use.Lookup).Cluster;

    /// <summary>
    /// For a connection the caller opened (<c>RoutingDataSource.CreateConnection</c>): counts it as one of the tenant's
    /// open connections on <paramref name="cluster"/> (never waiting, even past the limit: an open cannot wait), then,
    /// for a connection that may write, refuses it if the tenant is frozen or has moved off <paramref name="cluster"/>
    /// since the connection was created. Counting before checking keeps the freeze's protocol: the freeze's drain sees
    /// the connection, or the connection sees the freeze. Returns the lease to give back when it closes.
    /// </summary>
    public TenantLease? CountOpened(RoutingCluster cluster, bool mayWrite)
    {
        if (_single is not null || TenantScope.CurrentTenant is not { } tenant)
        {
            return null;
        }

        TenantLease? lease;
        while ((lease = cluster.Slots(tenant, _snapshot.Map).Count(mayWrite)) is null)
        {
            // retired meanwhile: a new entry
        }

        if (!mayWrite)
        {
            return lease;
        }

        var snapshot = _snapshot;
        if (IsFrozen(snapshot, tenant))
        {
            lease.Release();
            throw new TenantFrozenException(
                tenant,
                $"Tenant '{tenant}' has its writes frozen (a move between clusters is in progress), and this connection, made by RoutingDataSource.CreateConnection() and opened "
                + "by the caller, may write. Nothing was sent. An open cannot wait for the freeze to end: open through RoutingDataSource.OpenConnectionAsync(), which waits "
                + "(Tenants.FreezeWaitTimeout), or repeat the operation once the move is done.");
        }

        if (Lookup(snapshot, tenant) is var now && !ReferenceEquals(now, cluster))
        {
            lease.Release();
            throw new CrossClusterOperationException(
                cluster.Name!, now.Name!,
                $"Tenant '{tenant}' was moved from {cluster.DisplayName} to {now.DisplayName} after this connection was created (RoutingDataSource.CreateConnection()); "
                + $"it was not opened for writing there (a write would have landed on {cluster.DisplayName}). Nothing was sent: create the connection again.");
        }

        return lease;
    }

    /// <summary>
    /// The cluster of a statement on a connection that is open already (EF Core's, before each command): binds and checks
    /// like <see cref="ClusterFor"/> but never waits for a freeze, since the write belongs to work that began before it
    /// (a freeze in code waits for that work to end; waiting here would wait for itself). A write whose operation is
    /// bound to a cluster its tenant was moved from is still refused.
    /// </summary>
    public RoutingCluster ClusterOfOpenConnection(RoutingScope? scope, bool mayWrite) => ResolveSync(scope, mayWrite, Use.OpenAlready).Cluster;

    private Resolved ResolveSync(RoutingScope? scope, bool mayWrite, Use use)
    {
        if (_single is { } single)
        {
            return new Resolved(single, null);
        }

        var pending = ResolveMultiAsync(scope, mayWrite, use, async: false, CancellationToken.None);
        System.Diagnostics.Debug.Assert(pending.IsCompleted, "the synchronous path never awaits");
        return pending.GetAwaiter().GetResult();
    }

    /// <summary>What the resolved cluster is for.</summary>
    private enum Use
    {
        /// <summary>A connection about to open: the tenant's slot is taken, a frozen tenant's write waits.</summary>
        Open,

        /// <summary>No connection opened by RoutingSdk now (a lookup for reads): no slot, no wait.</summary>
        Lookup,

        /// <summary>A statement on a connection open already: no slot, no wait for a freeze.</summary>
        OpenAlready,
    }

    /// <summary>A statement's cluster and, within a tenant scope, the tenant's connection slot there.</summary>
    internal readonly record struct Resolved(RoutingCluster Cluster, TenantLease? Lease);

    /// <summary>A tenant's slots on a cluster (a freeze's drain, the load page).</summary>
    public TenantSlots SlotsOf(RoutingCluster cluster, string tenant) => cluster.Slots(tenant, _snapshot.Map);

    /// <summary>The cluster whose settings apply where no statement is being routed yet (the current tenant's if it has one, else the fallback).</summary>
    public RoutingCluster ForSettings()
    {
        if (_single is { } single)
        {
            return single;
        }

        var snapshot = _snapshot;
        return TenantScope.CurrentTenant is { } tenant && snapshot.Map.TryGetValue(tenant, out var mapped) ? mapped : snapshot.Default ?? snapshot.Fallback!;
    }

    /// <summary>The current tenant's cluster by the map and default only (no operation or transaction binding, no freeze).</summary>
    public RoutingCluster ForSettingsStrict() => _single ?? Lookup(_snapshot, TenantScope.CurrentTenant);

    private async ValueTask<Resolved> ResolveMultiAsync(RoutingScope? scope, bool mayWrite, Use use, bool async, CancellationToken cancellationToken)
    {
        long deadline = 0;
        while (true)
        {
            var snapshot = _snapshot;
            var tenant = TenantScope.CurrentTenant;
            var cluster = _bindings.Effective(scope, tenant, Lookup(snapshot, tenant), mayWrite);

            TenantLease? lease = null;
            if (tenant is not null && use == Use.Open)
            {
                lease = await cluster.Slots(tenant, snapshot.Map).AcquireAsync(
                    snapshot.Options.MaxConnectionsPerTenant, snapshot.Options.LimitWaitTimeout, mayWrite, async, cancellationToken).ConfigureAwait(false);
                if (lease is null || !ReferenceEquals(_snapshot, snapshot))
                {
                    // The entry was retired, or the map, a freeze or a thaw changed while the slot was awaited (a whole
                    // move may have run meanwhile): resolve again from what is in force now.
                    lease?.Release();
                    continue;
                }
            }

            // A write's slot is taken before the freeze is checked: a freeze either sees the write running (and its drain
            // waits for it) or the write sees the freeze (and waits for it to end). Nothing is bound before that, so a
            // write that waited goes wherever the tenant is when the freeze ends.
            if (mayWrite && use != Use.OpenAlready && tenant is not null && IsFrozen(_snapshot, tenant))
            {
                lease?.Release();
                deadline = deadline == 0 ? Environment.TickCount64 + (long)snapshot.Options.FreezeWaitTimeout.TotalMilliseconds : deadline;
                await WaitForThawAsync(snapshot, tenant, deadline, async, cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                if (_bindings.Bind(scope, tenant, cluster))
                {
                    return new Resolved(cluster, lease);
                }
            }
            catch
            {
                lease?.Release();
                throw;
            }

            lease?.Release(); // another statement of the operation bound it meanwhile: resolve again under its binding
        }
    }

    /// <summary>A frozen tenant's write waits for the next change (a thaw, a map edit) until <paramref name="deadline"/>, then fails with nothing sent.</summary>
    private static async ValueTask WaitForThawAsync(Snapshot snapshot, string tenant, long deadline, bool async, CancellationToken cancellationToken)
    {
        var left = deadline - Environment.TickCount64;
        if (left <= 0)
        {
            throw new TenantFrozenException(
                tenant,
                $"Tenant '{tenant}' has its writes frozen (a move between clusters is in progress) and the freeze did not end within Tenants.FreezeWaitTimeout "
                + $"({snapshot.Options.FreezeWaitTimeout}). Nothing was sent; repeat the operation once the move is done. Reads of the tenant continue meanwhile.");
        }

        var changed = snapshot.Changed.Task;
        if (async)
        {
            await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(left), cancellationToken)).ConfigureAwait(false);
        }
        else
        {
            Task.WaitAny([changed], (int)Math.Min(left, int.MaxValue), cancellationToken);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private static RoutingCluster Lookup(Snapshot snapshot, string? tenant)
    {
        if (tenant is not null && snapshot.Map.TryGetValue(tenant, out var mapped))
        {
            return mapped;
        }

        if (snapshot.Default is { } fallback)
        {
            return fallback;
        }

        throw new TenantNotResolvedException(
            tenant,
            tenant is null
                ? "Several clusters are configured (Routing:Clusters) and this statement runs outside any tenant scope, with no Routing:Tenants:DefaultCluster. Nothing was sent. "
                  + "Run it inside using (TenantScope.Begin(tenant)) { ... } (per request, job or message), or set Tenants.DefaultCluster for work that belongs to no tenant."
                : $"Tenant '{tenant}' is not in Routing:Tenants:Map and there is no Routing:Tenants:DefaultCluster. Nothing was sent. "
                  + $"Add \"{tenant}\": \"<cluster>\" to the map (reloaded live), or set a default cluster.");
    }

    private bool IsFrozen(Snapshot snapshot, string tenant) => snapshot.Frozen.Contains(tenant) || _frozenInCode.ContainsKey(tenant);

    /// <summary>Freezes a tenant's writes in this process until the returned handle is disposed.</summary>
    public IDisposable Freeze(string tenant)
    {
        _frozenInCode.AddOrUpdate(tenant, 1, (_, n) => n + 1);
        return new Unfreeze(this, tenant);
    }

    private void Thaw(string tenant)
    {
        lock (_applyLock)
        {
            if (_frozenInCode.AddOrUpdate(tenant, 0, (_, n) => n - 1) <= 0)
            {
                _frozenInCode.TryRemove(tenant, out _);
            }

            // Waiting writes look again.
            var old = _snapshot;
            _snapshot = old with { Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
            old.Changed.TrySetResult();
        }
    }

    private sealed class Unfreeze(ClusterSet owner, string tenant) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                owner.Thaw(tenant);
            }
        }
    }
}
