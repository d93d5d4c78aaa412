using System.Runtime.CompilerServices;
using Npgsql;
#pragma warning disable NPG9001 // NpgsqlConnector is public but marked experimental; only its lifetime members are used.
using Npgsql.Internal;

namespace RoutingSdk.Pools;

/// <summary>
/// Ties one open connection to its node's <see cref="PoolHealth.Lost"/> signal: when the health monitor finds the
/// node unreachable (a hung or partitioned server answers nothing, so the statement would wait for the command
/// timeout), the connection is aborted at once and the attempt fails fast, to be judged like a dead node (a read
/// moves to another replica, a write is reported, never re-run). Disposing stops watching.
/// </summary>
/// <remarks>
/// Npgsql has no public abort: <c>NpgsqlCommand.Cancel()</c> first sends PostgreSQL a cancel request and waits for it,
/// which a hung server never answers. The connection is broken directly instead — <c>NpgsqlConnector.Break</c>, the
/// method Npgsql's own keepalive uses from another thread — with PostgreSQL cancellation marked as done so that the
/// statement's reader does not try one either.
/// </remarks>
internal sealed class NodeWatch : IDisposable
{
    private NpgsqlConnection? _connection;
    private CancellationTokenRegistration _registration;
    private volatile bool _aborted;

    /// <summary>The node watched last (kept after <see cref="Disarm"/>, for the failure that follows an abort).</summary>
    public RoutingPool? Pool { get; private set; }

    /// <summary>The connection was aborted because its node was found unreachable: the failure that follows is the node's.</summary>
    public bool Aborted => _aborted;

    /// <summary>Watching a connection now (between <see cref="Arm"/> and <see cref="Disarm"/>).</summary>
    public bool Armed { get; private set; }

    /// <summary>Starts watching an open connection; if the node is already known lost, aborts it now.</summary>
    public static NodeWatch Start(NpgsqlConnection connection, RoutingPool pool)
    {
        var watch = new NodeWatch();
        watch.Arm(connection, pool);
        return watch;
    }

    /// <summary>
    /// Watches <paramref name="connection"/> on <paramref name="pool"/>'s node from now on (a context's watch is re-armed
    /// at every open instead of allocating one per open); if the node is already known lost, aborts it now.
    /// </summary>
    public void Arm(NpgsqlConnection connection, RoutingPool pool)
    {
        Disarm();
        _connection = connection;
        Pool = pool;
        _aborted = false;
        Armed = true;
        _registration = pool.Health.Lost.UnsafeRegister(static s => ((NodeWatch)s!).Abort(), this);
    }

    /// <summary>Stops watching. Waits for an abort already running, so a late abort never breaks the connector once it
    /// is back in the pool serving someone else.</summary>
    public void Disarm()
    {
        // The registration is not cleared: RoutingDataSource disarms from the connection's StateChange, which can run on
        // the aborting thread while the owner disposes too; disposing one registration twice is safe, a torn write is not.
        _registration.Dispose();
        Armed = false;
    }

    public void Dispose() => Disarm();

    /// <summary>
    /// Opens <paramref name="connection"/>, bounded by the caller's token, by the node's <see cref="PoolHealth.Lost"/>
    /// signal (when <paramref name="watched"/> is given) and by <paramref name="limit"/> (when finite). This is the one
    /// place RoutingSdk opens a connection that must not wait on a frozen node: such a node accepts TCP and answers
    /// nothing, and Npgsql does not observe cancellation during the start-up exchange, so the open would wait for the
    /// connection string's Timeout (15 s by default). An open past its bound is abandoned (the connection is disposed
    /// once it ends in the background): a lost node throws <see cref="NpgsqlException"/> after <paramref name="onLost"/>
    /// ran; the limit throws <see cref="TimeoutException"/> naming <paramref name="limitName"/>.
    /// </summary>
    public static async ValueTask OpenAsync(
        NpgsqlConnection connection, RoutingPool? watched, CancellationToken cancellationToken, IOpenAbandonedListener? onLost = null,
        TimeSpan? limit = null, string? limitName = null)
    {
        var lost = watched?.Health.Lost ?? default;
        if (lost.IsCancellationRequested)
        {
            // Even an idle pooled connection, which would "open" without asking the node, would be aborted at once.
            onLost?.OnOpenAbandoned(watched!, connection);
            throw LostWhileOpening(watched!, null);
        }

        CancellationTokenSource? bound = null;
        if (limit is { } l && l != System.Threading.Timeout.InfiniteTimeSpan)
        {
            bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(l);
        }

        var open = connection.OpenAsync(bound?.Token ?? cancellationToken);
        if (!open.IsCompleted && (lost.CanBeCanceled || bound is not null))
        {
            var abandon = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously); // true: lost
            using (lost.UnsafeRegister(static s => ((TaskCompletionSource<bool>)s!).TrySetResult(true), abandon))
            using (bound?.Token.UnsafeRegister(static s => ((TaskCompletionSource<bool>)s!).TrySetResult(false), abandon))
            {
                if (await Task.WhenAny(open, abandon.Task).ConfigureAwait(false) != open)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    _ = open.ContinueWith(
                        static (t, s) =>
                        {
                            _ = t.Exception; // observed: the open was abandoned, its failure is nobody's
                            var (c, b) = ((NpgsqlConnection, CancellationTokenSource?))s!;
                            c.Dispose();
                            b?.Dispose();
                        },
                        (connection, bound), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    if (abandon.Task.Result)
                    {
                        onLost?.OnOpenAbandoned(watched!, connection);
                        throw LostWhileOpening(watched!, null);
                    }

                    throw OverLimit(limit!.Value, limitName);
                }
            }
        }

        try
        {
            await open.ConfigureAwait(false);
            bound?.Dispose();
        }
        catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            bound?.Dispose();
            if (lost.IsCancellationRequested)
            {
                onLost?.OnOpenAbandoned(watched!, connection);
                throw LostWhileOpening(watched!, ex);
            }

            if (bound is not null && ex is OperationCanceledException)
            {
                throw OverLimit(limit!.Value, limitName);
            }

            throw;
        }
    }

    /// <summary>
    /// Opens a connection of <paramref name="dataSource"/> bounded as <see cref="OpenAsync(NpgsqlConnection, RoutingPool?, CancellationToken, IOpenAbandonedListener?, TimeSpan?, string?)"/>
    /// does; the connection is disposed when the open fails.
    /// </summary>
    public static async ValueTask<NpgsqlConnection> OpenAsync(
        NpgsqlDataSource dataSource, RoutingPool? watched, TimeSpan limit, string limitName, CancellationToken cancellationToken)
    {
        var connection = dataSource.CreateConnection();
        try
        {
            await OpenAsync(connection, watched, cancellationToken, null, limit, limitName).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await DisposeUnlessOpeningAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Disposes a connection whose open failed — unless the open was abandoned and still runs: that connection is
    /// disposed in the background once its open ends (disposing it now would wait for the frozen node).
    /// </summary>
    public static ValueTask DisposeUnlessOpeningAsync(NpgsqlConnection connection) =>
        connection.State == System.Data.ConnectionState.Connecting ? ValueTask.CompletedTask : connection.DisposeAsync();

    /// <summary>
    /// The synchronous path cannot abandon an open without blocking on an asynchronous one (thread-pool starvation
    /// under load), so it refuses to start one on a node already found unreachable, and is otherwise bounded by the
    /// connection string's Timeout. Throws the same <see cref="NpgsqlException"/> as an abandoned open.
    /// </summary>
    public static void ThrowIfLost(RoutingPool pool, IOpenAbandonedListener? onLost = null)
    {
        if (pool.Health.IsLost)
        {
            onLost?.OnOpenAbandoned(pool, null);
            throw LostWhileOpening(pool, null);
        }
    }

    private static TimeoutException OverLimit(TimeSpan limit, string? limitName) =>
        new($"no connection within {limitName ?? "the time limit"} ({limit.TotalSeconds:0.###} s)");

    /// <summary>Whether a failure on <paramref name="pool"/> is its node's, now that the monitor found the node unreachable.</summary>
    public static bool IsLostNodeFailure(RoutingPool pool, Exception exception)
    {
        if (!pool.Health.IsLost)
        {
            return false;
        }

        // A connection-level failure (not an error the server answered with) on a node known to be unreachable.
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException)
            {
                return false;
            }
        }

        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is NpgsqlException or IOException or ObjectDisposedException)
            {
                return true;
            }
        }

        return false;
    }

    private static NpgsqlException LostWhileOpening(RoutingPool pool, Exception? inner) =>
        new($"RoutingSdk abandoned a connection being opened to {pool.DisplayName}: the health monitor found it unreachable ({pool.Health.LostBecause}).", inner);

    private void Abort()
    {
        _aborted = true;
        AbortConnection(_connection!, $"RoutingSdk aborted this connection: the health monitor found {Pool!.DisplayName} unreachable ({Pool.Health.LostBecause}).");
    }

    /// <summary>
    /// Breaks an open connection now, from any thread, without asking the server anything (no cancel request): the
    /// statement running on it fails at once with an <see cref="NpgsqlException"/>.
    /// </summary>
    public static void AbortConnection(NpgsqlConnection connection, string reason)
    {
        if (GetConnector(connection) is not { } connector)
        {
            return; // closed meanwhile
        }

        try
        {
            SetCancellationPerformed(connector, true); // no cancel request to a server that answers nothing
            Break(connector, new NpgsqlException(reason), false);
        }
        catch (Exception ex) when (ex is MissingMethodException or MissingFieldException or InvalidOperationException or ObjectDisposedException)
        {
            // A different Npgsql build, or the connector finished meanwhile: the statement ends by its own timeout.
        }
    }

    /// <summary>Aborts <paramref name="connection"/> if it is still in use after <paramref name="limit"/>; dispose to disarm.</summary>
    /// <remarks>
    /// Disposing waits for an abort already running: once the caller closes the connection its connector goes back
    /// to the pool and may serve someone else, who must never be broken by a timer that fired late.
    /// </remarks>
    public static IDisposable AbortAfter(NpgsqlConnection connection, TimeSpan limit, string reason) => new Timer(connection, limit, reason);

    private sealed class Timer : IDisposable
    {
        private readonly CancellationTokenSource _timer;
        private readonly CancellationTokenRegistration _registration;

        public Timer(NpgsqlConnection connection, TimeSpan limit, string reason)
        {
            _timer = new CancellationTokenSource(limit);
            _registration = _timer.Token.UnsafeRegister(static s => { var (c, r) = ((NpgsqlConnection, string))s!; AbortConnection(c, r); }, (connection, reason));
        }

        public void Dispose()
        {
            _registration.Dispose(); // waits for a running callback
            _timer.Dispose();
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Connector")]
    private static extern NpgsqlConnector? GetConnector(NpgsqlConnection connection);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "set_PostgresCancellationPerformed")]
    private static extern void SetCancellationPerformed(NpgsqlConnector connector, bool value);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Break")]
    private static extern Exception Break(NpgsqlConnector connector, Exception reason, bool markHostAsOfflineOnConnecting);
}

/// <summary>
/// Told when RoutingSdk refuses or abandons an open because the monitor found its node lost (nothing was sent there).
/// An interface, not a delegate, so that the per-open path allocates no closure: EF Core's per-context state implements it.
/// </summary>
internal interface IOpenAbandonedListener
{
    /// <param name="pool">The lost node's pool.</param>
    /// <param name="connection">The connection whose open was refused or abandoned (it may still be opening in the
    /// background); <see langword="null"/> on the synchronous path, which refuses before anything is opened.</param>
    void OnOpenAbandoned(RoutingPool pool, NpgsqlConnection? connection);
}
