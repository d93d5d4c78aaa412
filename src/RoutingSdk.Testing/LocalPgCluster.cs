using System.Globalization;

namespace RoutingSdk.Testing;

/// <summary>
/// A real PostgreSQL read-pool topology on 127.0.0.1, as easy to use as a container fixture:
/// <c>primary</c>, synchronous replicas <c>sync1</c> and <c>sync2</c> (<c>remote_apply</c>, <c>ANY 2</c>),
/// an asynchronous replica <c>async1</c> with a delayed apply, and HAProxy with a write VIP and a read VIP
/// (round robin over the synchronous replicas, the primary as backup). With
/// <see cref="LocalPgClusterOptions.Shape"/> = <see cref="LocalPgClusterShape.Small"/>: <c>primary</c> and
/// <c>sync1</c> only (<c>ANY 1</c>), no HAProxy.
/// </summary>
/// <remarks>
/// Needs Debian's <c>postgresql</c> and (full shape) <c>haproxy</c> packages; run as root, it installs them and runs
/// the daemons as the <c>postgres</c> OS user. Start-up is idempotent: a cluster already running in the same data
/// directory is reused.
/// </remarks>
public sealed class LocalPgCluster : IAsyncDisposable
{
    /// <summary>Node name of the primary.</summary>
    public const string Primary = "primary";

    /// <summary>Node name of the first synchronous replica.</summary>
    public const string Sync1 = "sync1";

    /// <summary>Node name of the second synchronous replica.</summary>
    public const string Sync2 = "sync2";

    /// <summary>Node name of the asynchronous replica.</summary>
    public const string Async1 = "async1";

    /// <summary>Endpoint name of HAProxy's read frontend.</summary>
    public const string ReadVip = "read_vip";

    /// <summary>Endpoint name of HAProxy's write frontend.</summary>
    public const string WriteVip = "write_vip";

    /// <summary>The four PostgreSQL nodes of the full shape (<see cref="LocalPgClusterShape.Small"/> has <see cref="Primary"/> and <see cref="Sync1"/>).</summary>
    public static IReadOnlyList<string> Nodes { get; } = [Primary, Sync1, Sync2, Async1];

    private static readonly string[] SmallNodes = [Primary, Sync1];

    private static readonly string[] FullEndpoints = [Primary, Sync1, Sync2, Async1, ReadVip, WriteVip];

    private readonly LocalPgClusterOptions _options;
    private readonly string _scriptPath;
    private readonly Dictionary<string, string> _connectionStrings;
    private readonly bool _startedHere;
    private int _disposed;

    private LocalPgCluster(LocalPgClusterOptions options, string scriptPath, Dictionary<string, string> connectionStrings, bool startedHere)
    {
        _options = options;
        _scriptPath = scriptPath;
        _connectionStrings = connectionStrings;
        _startedHere = startedHere;
        DataDirectory = options.ResolveDataDirectory();
    }

    /// <summary>The directory holding every node's data.</summary>
    public string DataDirectory { get; }

    /// <summary>Npgsql connection string of the primary.</summary>
    public string PrimaryConnectionString => GetConnectionString(Primary);

    /// <summary>Npgsql connection string of <c>sync1</c>.</summary>
    public string Sync1ConnectionString => GetConnectionString(Sync1);

    /// <summary>Npgsql connection string of <c>sync2</c>.</summary>
    /// <exception cref="InvalidOperationException">The cluster has the <see cref="LocalPgClusterShape.Small"/> shape.</exception>
    public string Sync2ConnectionString => GetConnectionString(Sync2);

    /// <summary>Npgsql connection string of <c>async1</c>.</summary>
    /// <exception cref="InvalidOperationException">The cluster has the <see cref="LocalPgClusterShape.Small"/> shape.</exception>
    public string Async1ConnectionString => GetConnectionString(Async1);

    /// <summary>Npgsql connection string of HAProxy's read frontend.</summary>
    /// <exception cref="InvalidOperationException">The cluster has the <see cref="LocalPgClusterShape.Small"/> shape.</exception>
    public string ReadVipConnectionString => GetConnectionString(ReadVip);

    /// <summary>Npgsql connection string of HAProxy's write frontend.</summary>
    /// <exception cref="InvalidOperationException">The cluster has the <see cref="LocalPgClusterShape.Small"/> shape.</exception>
    public string WriteVipConnectionString => GetConnectionString(WriteVip);

    /// <summary>Every endpoint's connection string by name (nodes and VIPs; the small shape: <c>primary</c> and <c>sync1</c>).</summary>
    public IReadOnlyDictionary<string, string> ConnectionStrings => _connectionStrings;

    /// <summary>Returns the connection string of a node (<see cref="Nodes"/>) or VIP (<see cref="ReadVip"/>, <see cref="WriteVip"/>).</summary>
    /// <exception cref="ArgumentException"><paramref name="endpoint"/> names no endpoint.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="endpoint"/> is one the cluster's shape lacks (the small shape has no <c>sync2</c>, <c>async1</c> or VIPs).</exception>
    public string GetConnectionString(string endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (_connectionStrings.TryGetValue(endpoint, out var cs))
        {
            return cs;
        }

        if (FullEndpoints.Contains(endpoint))
        {
            throw NotInShape(endpoint);
        }

        throw new ArgumentException(
            $"Unknown endpoint '{endpoint}'. Use one of: {string.Join(", ", _connectionStrings.Keys)}.", nameof(endpoint));
    }

    /// <summary>
    /// Builds the topology if needed, starts every daemon and returns once replication and (full shape) both VIPs are
    /// ready. Fails when the data directory holds a cluster of another <see cref="LocalPgClusterOptions.Shape"/>.
    /// </summary>
    public static async Task<LocalPgCluster> StartAsync(LocalPgClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LocalPgClusterOptions();
        options.Validate();
        var script = options.ScriptPath ?? ExtractEmbeddedScript();
        if (!File.Exists(script))
        {
            throw new LocalPgClusterException($"Cluster script '{script}' does not exist. Set LocalPgClusterOptions.ScriptPath to scripts/cluster.sh or leave it null to use the embedded one.");
        }

        var wasRunning = (await RunScriptAsync(script, options, ["status"], TimeSpan.FromSeconds(30), cancellationToken, throwOnError: false).ConfigureAwait(false)).ExitCode == 0;
        await RunScriptAsync(script, options, ["start"], options.StartTimeout, cancellationToken).ConfigureAwait(false);
        var env = await RunScriptAsync(script, options, ["env"], TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        return new LocalPgCluster(options, script, ParseEnv(env.StdOut, options.Shape), startedHere: !wasRunning);
    }

    /// <summary>Stops one node (fast shutdown). HAProxy notices within about a second.</summary>
    public Task StopNodeAsync(string node, CancellationToken cancellationToken = default) =>
        RunNodeCommandAsync("stop-node", node, cancellationToken);

    /// <summary>Starts one node and, for a replica, waits until it streams again (synchronous replicas: until they are back in the quorum).</summary>
    public Task StartNodeAsync(string node, CancellationToken cancellationToken = default) =>
        RunNodeCommandAsync("start-node", node, cancellationToken);

    /// <summary>
    /// Freezes every process of one node (SIGSTOP): its connections stay open and nothing answers, as in a VM freeze,
    /// a storage stall or a network partition without resets. Undo with <see cref="ResumeNodeAsync"/>.
    /// </summary>
    public Task PauseNodeAsync(string node, CancellationToken cancellationToken = default) =>
        RunNodeCommandAsync("pause-node", node, cancellationToken);

    /// <summary>Thaws a node frozen by <see cref="PauseNodeAsync"/> (SIGCONT).</summary>
    public Task ResumeNodeAsync(string node, CancellationToken cancellationToken = default) =>
        RunNodeCommandAsync("resume-node", node, cancellationToken);

    /// <summary>Stops every daemon; the data stays for a fast restart.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) =>
        RunScriptAsync(_scriptPath, _options, ["stop"], TimeSpan.FromMinutes(2), cancellationToken);

    /// <summary>Stops every daemon and deletes the data directory.</summary>
    public Task DestroyAsync(CancellationToken cancellationToken = default) =>
        RunScriptAsync(_scriptPath, _options, ["destroy"], TimeSpan.FromMinutes(2), cancellationToken);

    /// <summary>Returns the script's status report (one line per daemon).</summary>
    public async Task<string> GetStatusAsync(CancellationToken cancellationToken = default) =>
        (await RunScriptAsync(_scriptPath, _options, ["status"], TimeSpan.FromSeconds(30), cancellationToken, throwOnError: false).ConfigureAwait(false)).StdOut;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        switch (_options.OnDispose)
        {
            case LocalPgClusterDisposeAction.Destroy:
                await DestroyAsync().ConfigureAwait(false);
                break;
            case LocalPgClusterDisposeAction.Stop:
            case LocalPgClusterDisposeAction.StopIfStartedHere when _startedHere:
                await StopAsync().ConfigureAwait(false);
                break;
        }
    }

    private Task RunNodeCommandAsync(string command, string node, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (!Nodes.Contains(node))
        {
            throw new ArgumentException($"Unknown node '{node}'. Use one of: {string.Join(", ", Nodes)}.", nameof(node));
        }

        if (!_connectionStrings.ContainsKey(node))
        {
            throw NotInShape(node);
        }

        return RunScriptAsync(_scriptPath, _options, [command, node], TimeSpan.FromMinutes(2), cancellationToken);
    }

    private InvalidOperationException NotInShape(string endpoint) =>
        new($"This LocalPgCluster has the {_options.Shape} shape ({string.Join(", ", _connectionStrings.Keys)}), which has no {endpoint}. " +
            $"For {endpoint}, start a cluster with LocalPgClusterOptions.Shape = LocalPgClusterShape.{LocalPgClusterShape.Full} " +
            "(in another DataDirectory and PortBase, or after DestroyAsync of this one).");

    private static Dictionary<string, string> ParseEnv(string output, LocalPgClusterShape shape)
    {
        var map = ClusterScript.ParseEnv(output);
        foreach (var required in shape == LocalPgClusterShape.Small ? SmallNodes : FullEndpoints)
        {
            if (!map.ContainsKey(required))
            {
                throw new LocalPgClusterException($"The cluster script's 'env' output lacks {required.ToUpperInvariant()}=...; got:\n{output}");
            }
        }

        return map;
    }

    private static string ExtractEmbeddedScript() => ClusterScript.Extract("RoutingSdk.Testing.cluster.sh", "routingsdk-cluster");

    private static Task<ClusterScript.Result> RunScriptAsync(
        string script, LocalPgClusterOptions options, string[] args, TimeSpan timeout, CancellationToken cancellationToken, bool throwOnError = true) =>
        ClusterScript.RunAsync(
            script,
            new Dictionary<string, string>
            {
                ["ROUTING_CLUSTER_SHAPE"] = options.Shape == LocalPgClusterShape.Small ? "small" : "full",
                ["ROUTING_PG_PORT_BASE"] = options.PortBase.ToString(CultureInfo.InvariantCulture),
                ["ROUTING_CLUSTER_DIR"] = options.ResolveDataDirectory(),
                ["ROUTING_ASYNC_APPLY_DELAY"] = ((long)options.AsyncReplicaApplyDelay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms",
            },
            args, timeout, cancellationToken, throwOnError);
}
