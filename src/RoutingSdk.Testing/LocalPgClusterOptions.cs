namespace RoutingSdk.Testing;

/// <summary>What <see cref="LocalPgCluster"/> does when it is disposed.</summary>
public enum LocalPgClusterDisposeAction
{
    /// <summary>Stop the daemons only if this instance started them (the cluster was not already running).</summary>
    StopIfStartedHere,

    /// <summary>Always stop the daemons, keep the data directory for a fast restart.</summary>
    Stop,

    /// <summary>Stop the daemons and delete the data directory.</summary>
    Destroy,

    /// <summary>Leave the cluster running (a test runner script stops it).</summary>
    KeepRunning,
}

/// <summary>Which nodes a <see cref="LocalPgCluster"/> has.</summary>
/// <remarks>
/// The shape is recorded in the data directory when the cluster is built; starting it later with another shape fails
/// with a message naming both ways out (<see cref="LocalPgCluster.DestroyAsync"/> it, or use the recorded shape).
/// </remarks>
public enum LocalPgClusterShape
{
    /// <summary>
    /// The full read-pool topology: <c>primary</c>, synchronous replicas <c>sync1</c> and <c>sync2</c>
    /// (<c>ANY 2</c>), the asynchronous replica <c>async1</c> and HAProxy's write and read VIPs. Six ports.
    /// </summary>
    Full,

    /// <summary>
    /// A lighter cluster: <c>primary</c> and one synchronous replica <c>sync1</c> (<c>remote_apply</c>,
    /// <c>ANY 1 (sync1)</c>), no <c>sync2</c>, no <c>async1</c>, no HAProxy. Two ports: <see cref="LocalPgClusterOptions.PortBase"/>
    /// and the next. For a second cluster next to a full one (several clusters, told apart by
    /// <c>system_identifier</c>: the nodes keep the names <c>primary</c> and <c>sync1</c>).
    /// </summary>
    Small,
}

/// <summary>Options of <see cref="LocalPgCluster.StartAsync"/>.</summary>
public sealed class LocalPgClusterOptions
{
    /// <summary>
    /// First of six consecutive ports on 127.0.0.1: primary, sync1, sync2, async1, write VIP, read VIP
    /// (<see cref="LocalPgClusterShape.Small"/>: two, primary and sync1).
    /// Defaults to the <c>ROUTING_PG_PORT_BASE</c> environment variable, else 15430.
    /// </summary>
    public int PortBase { get; set; } = ReadPortBaseFromEnvironment();

    /// <summary>
    /// Which nodes the cluster has (default <see cref="LocalPgClusterShape.Full"/>). A second cluster running beside
    /// another needs its own <see cref="PortBase"/> and <see cref="DataDirectory"/>.
    /// </summary>
    public LocalPgClusterShape Shape { get; set; } = LocalPgClusterShape.Full;

    /// <summary>
    /// Directory holding the data of every node. Defaults to the <c>ROUTING_CLUSTER_DIR</c> environment variable,
    /// else <c>{temp}/routingsdk-cluster-{PortBase}</c>.
    /// </summary>
    public string? DataDirectory { get; set; } = Environment.GetEnvironmentVariable("ROUTING_CLUSTER_DIR");

    /// <summary><c>recovery_min_apply_delay</c> of the asynchronous replica <c>async1</c> (default 2 s; the full shape only).</summary>
    public TimeSpan AsyncReplicaApplyDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A cluster script to run instead of the one embedded in this package (for development).</summary>
    public string? ScriptPath { get; set; }

    /// <summary>What disposing the cluster does (default <see cref="LocalPgClusterDisposeAction.StopIfStartedHere"/>).</summary>
    public LocalPgClusterDisposeAction OnDispose { get; set; } = LocalPgClusterDisposeAction.StopIfStartedHere;

    /// <summary>How long start-up may take before it fails (default 3 minutes, which includes installing packages).</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromMinutes(3);

    internal string ResolveDataDirectory() =>
        string.IsNullOrWhiteSpace(DataDirectory)
            ? Path.Combine(Path.GetTempPath(), $"routingsdk-cluster-{PortBase}")
            : Path.GetFullPath(DataDirectory);

    internal void Validate()
    {
        if (!Enum.IsDefined(Shape))
        {
            throw new ArgumentOutOfRangeException(nameof(Shape), Shape,
                "LocalPgClusterOptions.Shape must be LocalPgClusterShape.Full or LocalPgClusterShape.Small.");
        }

        if (PortBase is < 1024 or > 65529)
        {
            throw new ArgumentOutOfRangeException(nameof(PortBase), PortBase,
                "LocalPgClusterOptions.PortBase must be between 1024 and 65529: the cluster uses six consecutive ports from it.");
        }

        if (AsyncReplicaApplyDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(AsyncReplicaApplyDelay), AsyncReplicaApplyDelay,
                "LocalPgClusterOptions.AsyncReplicaApplyDelay must not be negative.");
        }
    }

    private static int ReadPortBaseFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("ROUTING_PG_PORT_BASE"), out var port) ? port : 15430;
}
