using RoutingSdk.IntegrationTests.Infrastructure;
using RoutingSdk.Testing;

namespace RoutingSdk.IntegrationTests.Testing;

[Collection(FaultCollection.Name)]
public sealed class TopologyFaultTests(ClusterFixture fixture)
{
    private readonly LocalPgCluster _cluster = fixture.Cluster;

    [Fact]
    public async Task Read_vip_falls_back_to_primary_when_both_sync_replicas_are_stopped_and_returns_after_restart()
    {
        try
        {
            await _cluster.StopNodeAsync(LocalPgCluster.Sync1);
            await _cluster.StopNodeAsync(LocalPgCluster.Sync2);

            // HAProxy checks every 500 ms and marks a server down after two failures.
            var name = await WaitForVipAnswerAsync(n => n == "primary");
            Assert.Equal("primary", name);
        }
        finally
        {
            await _cluster.StartNodeAsync(LocalPgCluster.Sync1);
            await _cluster.StartNodeAsync(LocalPgCluster.Sync2);
        }

        var back = await WaitForVipAnswerAsync(n => n is "sync1" or "sync2");
        Assert.True(back is "sync1" or "sync2", $"read VIP answered from {back} after the replicas came back");
    }

    private async Task<string> WaitForVipAnswerAsync(Func<string, bool> accept)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string last = "(no answer)";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                (last, _) = await ClusterFixture.WhoAmIAsync(_cluster.ReadVipConnectionString);
                if (accept(last))
                {
                    return last;
                }
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or System.IO.IOException)
            {
                last = ex.Message;
            }

            await Task.Delay(200);
        }

        return last;
    }
}
