using System.Globalization;

namespace RoutingSdk.Testing;

/// <summary>Options of <see cref="LocalHaCluster"/>.</summary>
public sealed class LocalHaClusterOptions
{
    /// <summary>First of ten consecutive ports (default: <c>ROUTING_HA_PORT_BASE</c>, else 15450).</summary>
    public int PortBase { get; set; } = int.TryParse(Environment.GetEnvironmentVariable("ROUTING_HA_PORT_BASE"), out var port) ? port : 15450;

    /// <summary>Data directory (default: <c>ROUTING_HA_DIR</c>, else a directory under the temp path named by the port base).</summary>
    public string? DataDirectory { get; set; } = Environment.GetEnvironmentVariable("ROUTING_HA_DIR");

    /// <summary>Path of <c>scripts/ha-cluster.sh</c>; null uses the copy embedded in this package.</summary>
    public string? ScriptPath { get; set; }

    /// <summary>What disposing the fixture does (default: stop it if this fixture started it).</summary>
    public LocalPgClusterDisposeAction OnDispose { get; set; } = LocalPgClusterDisposeAction.StopIfStartedHere;

    /// <summary>How long start may take (default 3 minutes: a fresh bootstrap takes about 25 s).</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromMinutes(3);

    internal string ResolveDataDirectory() =>
        string.IsNullOrWhiteSpace(DataDirectory) ? Path.Combine(Path.GetTempPath(), $"routingsdk-ha-{PortBase}") : Path.GetFullPath(DataDirectory);

    internal void Validate()
    {
        if (PortBase is < 1024 or > 65525)
        {
            throw new ArgumentOutOfRangeException(nameof(PortBase), PortBase,
                "LocalHaClusterOptions.PortBase must be between 1024 and 65525: the HA cluster uses ten consecutive ports from it.");
        }
    }
}

/// <summary>
/// A real local high-availability topology as a test fixture: etcd, three Patroni-managed PostgreSQL nodes (a leader
/// and two synchronous standbys) and HAProxy, started by <c>scripts/ha-cluster.sh</c> (embedded). Fail the leader
/// over with <see cref="KillLeaderAsync"/> or <see cref="SwitchoverAsync"/>.
/// </summary>
public sealed class LocalHaCluster : IAsyncDisposable
{
    /// <summary>The member names.</summary>
    public static IReadOnlyList<string> Nodes { get; } = ["node1", "node2", "node3"];

    private readonly LocalHaClusterOptions _options;
    private readonly string _script;
    private readonly Dictionary<string, string> _env;
    private readonly bool _startedHere;
    private int _disposed;

    private LocalHaCluster(LocalHaClusterOptions options, string script, Dictionary<string, string> env, bool startedHere)
    {
        _options = options;
        _script = script;
        _env = env;
        _startedHere = startedHere;
        PatroniEndpoints = env["patroni_api"].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>The Patroni REST API of every member (<c>http://127.0.0.1:port</c>).</summary>
    public IReadOnlyList<string> PatroniEndpoints { get; }

    /// <summary>The write VIP (HAProxy, Patroni's <c>GET /primary</c> check).</summary>
    public string WriteVipConnectionString => _env["write_vip"];

    /// <summary>The read VIP (HAProxy, <c>GET /replica</c> check, the leader as backup).</summary>
    public string ReadVipConnectionString => _env["read_vip"];

    /// <summary>A member's own connection string.</summary>
    public string GetConnectionString(string node) =>
        _env.TryGetValue(CheckNode(node), out var cs) ? cs : throw new LocalPgClusterException($"The HA script's env output lacks {node.ToUpperInvariant()}.");

    /// <summary>Starts the topology (or reuses a running one) and waits until a leader and two synchronous standbys are reported.</summary>
    public static async Task<LocalHaCluster> StartAsync(LocalHaClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LocalHaClusterOptions();
        options.Validate();
        var script = options.ScriptPath ?? ClusterScript.Extract("RoutingSdk.Testing.ha-cluster.sh", "routingsdk-ha-cluster");
        if (!File.Exists(script))
        {
            throw new LocalPgClusterException($"HA cluster script '{script}' does not exist. Set LocalHaClusterOptions.ScriptPath to scripts/ha-cluster.sh or leave it null to use the embedded one.");
        }

        var wasRunning = (await Run(script, options, ["status"], TimeSpan.FromSeconds(30), cancellationToken, throwOnError: false).ConfigureAwait(false)).ExitCode == 0;
        await Run(script, options, ["start"], options.StartTimeout, cancellationToken).ConfigureAwait(false);
        var env = ClusterScript.ParseEnv((await Run(script, options, ["env"], TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false)).StdOut);
        foreach (var key in new[] { "patroni_api", "node1", "node2", "node3", "write_vip", "read_vip" })
        {
            if (!env.ContainsKey(key))
            {
                throw new LocalPgClusterException($"The HA script's 'env' output lacks {key.ToUpperInvariant()}=...");
            }
        }

        return new LocalHaCluster(options, script, env, startedHere: !wasRunning);
    }

    /// <summary>The current leader's name, or null during an election.</summary>
    public async Task<string?> GetLeaderAsync(CancellationToken cancellationToken = default)
    {
        var result = await Run(_script, _options, ["leader"], TimeSpan.FromSeconds(30), cancellationToken, throwOnError: false).ConfigureAwait(false);
        var name = result.StdOut.Trim();
        return name.Length == 0 ? null : name;
    }

    /// <summary>kill -9 of the leader's Patroni and postmaster (a crashed machine); returns at once with the killed member's name.</summary>
    public async Task<string> KillLeaderAsync(CancellationToken cancellationToken = default) =>
        (await Run(_script, _options, ["kill-leader"], TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false)).StdOut.Trim();

    /// <summary>A planned switchover to a synchronous standby; returns the new leader once the cluster is whole again.</summary>
    public async Task<string> SwitchoverAsync(string? candidate = null, CancellationToken cancellationToken = default) =>
        (await Run(_script, _options, candidate is null ? ["switchover"] : ["switchover", CheckNode(candidate)], TimeSpan.FromMinutes(3), cancellationToken).ConfigureAwait(false))
            .StdOut.Trim().Split('\n')[^1].Trim();

    /// <summary>Stops a member (Patroni stops its PostgreSQL).</summary>
    public Task StopNodeAsync(string node, CancellationToken cancellationToken = default) =>
        Run(_script, _options, ["stop-node", CheckNode(node)], TimeSpan.FromMinutes(2), cancellationToken);

    /// <summary>Starts a member; returns once Patroni reports it as a synchronous standby (or the leader).</summary>
    public Task StartNodeAsync(string node, CancellationToken cancellationToken = default) =>
        Run(_script, _options, ["start-node", CheckNode(node)], TimeSpan.FromMinutes(3), cancellationToken);

    /// <summary>Waits until the topology is whole again (a leader and two synchronous standbys), starting what is stopped.</summary>
    public Task EnsureHealthyAsync(CancellationToken cancellationToken = default) =>
        Run(_script, _options, ["start"], _options.StartTimeout, cancellationToken);

    /// <summary>Stops every daemon.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) =>
        Run(_script, _options, ["stop"], TimeSpan.FromMinutes(2), cancellationToken);

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
                await Run(_script, _options, ["destroy"], TimeSpan.FromMinutes(2), CancellationToken.None).ConfigureAwait(false);
                break;
            case LocalPgClusterDisposeAction.Stop:
            case LocalPgClusterDisposeAction.StopIfStartedHere when _startedHere:
                await StopAsync().ConfigureAwait(false);
                break;
        }
    }

    private static string CheckNode(string node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Nodes.Contains(node) ? node : throw new ArgumentException($"Unknown node '{node}'. Use one of: {string.Join(", ", Nodes)}.", nameof(node));
    }

    private static Task<ClusterScript.Result> Run(string script, LocalHaClusterOptions options, string[] args, TimeSpan timeout, CancellationToken cancellationToken, bool throwOnError = true) =>
        ClusterScript.RunAsync(
            script,
            new Dictionary<string, string>
            {
                ["ROUTING_HA_PORT_BASE"] = options.PortBase.ToString(CultureInfo.InvariantCulture),
                ["ROUTING_HA_DIR"] = options.ResolveDataDirectory(),
            },
            args, timeout, cancellationToken, throwOnError);
}
