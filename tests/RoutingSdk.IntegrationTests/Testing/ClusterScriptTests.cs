using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RoutingSdk.IntegrationTests.Infrastructure;

namespace RoutingSdk.IntegrationTests.Testing;

/// <summary>The cluster script's own contract, on clusters of their own (other ports, other directories).</summary>
[Collection(FaultCollection.Name)]
public sealed class ClusterScriptTests
{
    private static readonly string Script = Path.Combine(ClusterFixture.RepoRoot, "scripts", "cluster.sh");

    // Clusters of their own, above the shared one's six ports (ROUTING_PG_PORT_BASE, 25430 in scripts/test.sh), so
    // that two test runs on other bases never meet; below the ephemeral port range, so no client socket holds them.
    private static readonly int SharedBase =
        int.TryParse(Environment.GetEnvironmentVariable("ROUTING_PG_PORT_BASE"), out var b) ? b : 25430;

    [Fact]
    public async Task Start_twice_is_idempotent_and_destroy_leaves_no_process_and_no_listener()
    {
        var portBase = SharedBase + 40;
        var dir = Path.Combine(Path.GetTempPath(), "routingsdk-script-test-" + Guid.NewGuid().ToString("N")[..8]);
        var env = new Dictionary<string, string> { ["ROUTING_PG_PORT_BASE"] = portBase.ToString(), ["ROUTING_CLUSTER_DIR"] = dir };
        try
        {
            var first = await RunAsync(env, "start");
            Assert.True(first.ExitCode == 0, first.StdErr);
            var pids = ReadPids(dir);
            Assert.Equal(5, pids.Count); // four postmasters and HAProxy

            var second = await RunAsync(env, "start");
            Assert.True(second.ExitCode == 0, second.StdErr);
            Assert.Equal(pids, ReadPids(dir)); // nothing restarted

            var status = await RunAsync(env, "status");
            Assert.Equal(0, status.ExitCode);
            Assert.Contains("sync1=quorum", status.StdOut);

            var destroy = await RunAsync(env, "destroy");
            Assert.True(destroy.ExitCode == 0, destroy.StdErr);
            Assert.False(Directory.Exists(dir));
            Assert.All(pids, pid => Assert.False(IsAlive(pid), $"process {pid} still runs after destroy"));
            for (var port = portBase; port < portBase + 6; port++)
            {
                Assert.False(IsListening(port), $"port {port} still has a listener after destroy");
            }
        }
        finally
        {
            await RunAsync(env, "destroy");
        }
    }

    [Fact]
    public async Task A_taken_port_gives_an_error_naming_the_port_and_the_program_holding_it()
    {
        var portBase = SharedBase + 50;
        var dir = Path.Combine(Path.GetTempPath(), "routingsdk-script-test-" + Guid.NewGuid().ToString("N")[..8]);
        var env = new Dictionary<string, string> { ["ROUTING_PG_PORT_BASE"] = portBase.ToString(), ["ROUTING_CLUSTER_DIR"] = dir };
        using var squatter = new TcpListener(IPAddress.Loopback, portBase + 2);
        squatter.Start();
        try
        {
            var result = await RunAsync(env, "start");
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains($"{portBase + 2} (sync2) held by ", result.StdErr);
            Assert.Contains($"(pid {Environment.ProcessId})", result.StdErr); // this test process holds it
            Assert.Contains("ROUTING_PG_PORT_BASE", result.StdErr);
        }
        finally
        {
            squatter.Stop();
            await RunAsync(env, "destroy");
        }
    }

    [Fact]
    public async Task HAProxy_that_cannot_start_says_why_in_the_error()
    {
        // A socket bound to the read VIP's port without listening: invisible to the port check (ss lists no
        // listener and no connection), so the nodes start and HAProxy's own bind fails, as when a client socket
        // held the port. The error must carry HAProxy's reason, not point at an empty log.
        var portBase = SharedBase + 70;
        var dir = Path.Combine(Path.GetTempPath(), "routingsdk-script-test-" + Guid.NewGuid().ToString("N")[..8]);
        var env = new Dictionary<string, string> { ["ROUTING_PG_PORT_BASE"] = portBase.ToString(), ["ROUTING_CLUSTER_DIR"] = dir };
        // Held by python3, not by this process: HAProxy could still bind a port that a .NET socket had only bound
        // (seen here, even with ReuseAddress off), while a plain bound socket from python3 stops it, as a client's does.
        using var blocker = Process.Start(new ProcessStartInfo("python3")
        {
            ArgumentList = { "-c", $"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {portBase + 5})); print('bound', flush=True); time.sleep(300)" },
            RedirectStandardOutput = true,
        })!;
        Assert.Equal("bound", await blocker.StandardOutput.ReadLineAsync());
        try
        {
            var result = await RunAsync(env, "start");
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("HAProxy did not start: ", result.StdErr);
            Assert.Contains($"cannot bind socket (Address already in use) for [127.0.0.1:{portBase + 5}]", result.StdErr);
            Assert.Contains("start failed; stopping what this run started", result.StdErr);
        }
        finally
        {
            blocker.Kill();
            await RunAsync(env, "destroy");
        }
    }

    [Fact]
    public async Task Missing_binaries_without_root_name_the_packages_to_install()
    {
        var dir = Path.Combine(Path.GetTempPath(), "routingsdk-script-test-" + Guid.NewGuid().ToString("N")[..8]);
        var env = new Dictionary<string, string>
        {
            ["ROUTING_PG_PORT_BASE"] = (SharedBase + 60).ToString(),
            ["ROUTING_CLUSTER_DIR"] = dir,
            ["ROUTING_PG_ROOT"] = "/nonexistent/postgresql",
            ["ROUTING_HAPROXY_BIN"] = "/nonexistent/haproxy",
        };
        // As root the script would install the packages; run it as an unprivileged user instead.
        var result = Environment.UserName == "root"
            ? await RunAsync(env, "start", runAs: "nobody")
            : await RunAsync(env, "start");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("missing packages: postgresql haproxy", result.StdErr);
        Assert.Contains("apt-get install -y postgresql haproxy", result.StdErr);
        Assert.False(Directory.Exists(Path.Combine(dir, "primary")));
    }

    private static List<int> ReadPids(string dir)
    {
        var pids = new List<int>();
        foreach (var node in new[] { "primary", "sync1", "sync2", "async1" })
        {
            pids.Add(int.Parse(File.ReadLines(Path.Combine(dir, node, "postmaster.pid")).First()));
        }

        pids.Add(int.Parse(File.ReadAllText(Path.Combine(dir, "haproxy.pid")).Trim()));
        return pids;
    }

    private static bool IsAlive(int pid) =>
        File.Exists($"/proc/{pid}/stat") && File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z";

    private static bool IsListening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(
        Dictionary<string, string> env, string command, string? runAs = null)
    {
        var psi = new ProcessStartInfo(runAs is null ? "bash" : "runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (runAs is not null)
        {
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(runAs);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add("env");
            foreach (var (k, v) in env)
            {
                psi.ArgumentList.Add($"{k}={v}");
            }

            psi.ArgumentList.Add("bash");
        }

        psi.ArgumentList.Add(Script);
        psi.ArgumentList.Add(command);
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
