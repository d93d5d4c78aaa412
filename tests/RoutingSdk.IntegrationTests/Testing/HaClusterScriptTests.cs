using System.Diagnostics;
using RoutingSdk.IntegrationTests.Infrastructure;

namespace RoutingSdk.IntegrationTests.Testing;

/// <summary>scripts/ha-cluster.sh: clear errors and the env contract, without starting daemons.</summary>
public sealed class HaClusterScriptTests
{
    private static readonly string Script = Path.Combine(ClusterFixture.RepoRoot, "scripts", "ha-cluster.sh");

    private static async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(string portBase, params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Script);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["ROUTING_HA_PORT_BASE"] = portBase;
        psi.Environment["ROUTING_HA_DIR"] = Path.Combine(Path.GetTempPath(), "routingsdk-ha-script-test");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Env_prints_every_endpoint_from_the_port_base()
    {
        var (code, stdout, _) = await RunAsync("31000", "env");
        Assert.Equal(0, code);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);
        Assert.Equal("http://127.0.0.1:31003,http://127.0.0.1:31004,http://127.0.0.1:31005", lines["PATRONI_API"]);
        Assert.Contains("Port=31000;", lines["NODE1"]);
        Assert.Contains("Port=31002;", lines["NODE3"]);
        Assert.Contains("Port=31008;", lines["WRITE_VIP"]);
        Assert.Contains("Port=31009;", lines["READ_VIP"]);
    }

    [Theory]
    [InlineData("abc", new[] { "status" }, "ROUTING_HA_PORT_BASE must be a number between 1024 and 65525 (was 'abc')")]
    [InlineData("31000", new[] { "stop-node", "node9" }, "unknown node 'node9' (expected one of: node1 node2 node3)")]
    [InlineData("31000", new[] { "start-node" }, "usage: scripts/ha-cluster.sh start-node node1|node2|node3")]
    [InlineData("31000", new[] { "explode" }, "usage: scripts/ha-cluster.sh start|stop|status|destroy|env|leader|kill-leader|switchover")]
    public async Task Bad_input_fails_with_a_message_that_names_the_fix(string portBase, string[] args, string expected)
    {
        var (code, _, stderr) = await RunAsync(portBase, args);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, stderr);
    }

    [Fact]
    public async Task Kill_leader_without_a_cluster_says_so()
    {
        var (code, _, stderr) = await RunAsync("31000", "kill-leader");
        Assert.NotEqual(0, code);
        Assert.Contains("no running leader to kill", stderr);
    }
}
