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

/// <summary>Options of <see cref="LocalPgCluster.StartAsync"/>.</summary>
public sealed class LocalPgClusterOptions
{
    /// <summary>
    /// First of six consecutive ports on 127.0.0.1: primary, sync1, sync2, async1, write VIP, read VIP.
    /// Defaults to the <c>ROUTING_PG_PORT_BASE</c> environment variable, else 15430.
    /// </summary>
    public int PortBase { get; set; } = ReadPortBaseFromEnvironment();

    /// <summary>
    /// Directory holding the data of every node. Defaults to the <c>ROUTING_CLUSTER_DIR</c> environment variable,
    /// else <c>{temp}/routingsdk-cluster-{PortBase}</c>.
    /// </summary>
    public string? DataDirectory { get; set; } = Environment.GetEnvironmentVariable("ROUTING_CLUSTER_DIR");

    /// <summary><c>recovery_min_apply_delay</c> of the asynchronous replica <c>async1</c> (default 2 s).</summary>
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
