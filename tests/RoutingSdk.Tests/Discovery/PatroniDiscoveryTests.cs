using System.Text.Json;
using Npgsql;
using RoutingSdk.Discovery;
using RoutingSdk.Pools;
using RoutingSdk.Routing;

namespace RoutingSdk.Tests.Discovery;

public sealed class PatroniDiscoveryTests
{
    // The shape of Patroni 3's GET /cluster.
    private const string Cluster = """
        {"members": [
          {"name": "node1", "role": "leader", "state": "running", "api_url": "http://127.0.0.1:8008/patroni", "host": "10.0.0.1", "port": 5432, "timeline": 3},
          {"name": "node2", "role": "sync_standby", "state": "streaming", "host": "10.0.0.2", "port": 5432, "timeline": 3, "lag": 0},
          {"name": "node3", "role": "replica", "state": "running", "host": "10.0.0.3", "port": 5433, "timeline": 3, "lag": 120},
          {"name": "node4", "role": "replica", "state": "starting", "host": "10.0.0.4", "port": 5432},
          {"name": "node5", "role": "sync_standby", "state": "stopped", "host": "10.0.0.5", "port": 5432}
        ], "scope": "erp"}
        """;

    private static IReadOnlyList<PatroniMember> Members(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return PatroniDiscovery.Parse(doc.RootElement);
    }

    [Fact]
    public void Leader_sync_standbys_and_replicas_become_primary_sync_and_async_pools_with_the_template()
    {
        var template = new RoutingPoolOptions { ConnectionString = "Host=ignored;Database=erp;Username=app;Password=secret", MaxPoolSize = 40, UsageRatio = 2 };
        var pools = PatroniDiscovery.ToPools(Members(Cluster), template);
        Assert.Equal(["node1:Primary", "node2:SyncReplica", "node3:AsyncReplica"], pools.Select(p => $"{p.Name}:{p.Role}"));
        var node3 = new NpgsqlConnectionStringBuilder(pools[2].ConnectionString);
        Assert.Equal(("10.0.0.3", 5433, "erp", "app", "secret"), (node3.Host, node3.Port, node3.Database, node3.Username, node3.Password));
        Assert.All(pools, p => Assert.Equal((40, 2.0), (p.MaxPoolSize!.Value, p.UsageRatio)));
    }

    private static QueryRouter ElectionRouter(out RoutingTopology topology)
    {
        var election = Cluster.Replace("\"role\": \"leader\", \"state\": \"running\"", "\"role\": \"replica\", \"state\": \"stopped\"");
        var pools = PatroniDiscovery.ToPools(Members(election), new RoutingPoolOptions { ConnectionString = "Database=erp" });
        var options = new RoutingOptions { Pools = pools };
        options.Failover.PrimaryWaitTimeout = TimeSpan.FromMilliseconds(300);
        topology = RoutingTopology.Build(options, new PoolHealthRegistry(), discovered: true);
        return new QueryRouter(topology);
    }

    [Fact]
    public void During_an_election_an_AsyncReplica_read_after_the_operations_write_uses_a_sync_replica()
    {
        var router = ElectionRouter(out _);
        using var scope = RoutingScope.Begin(RouteKind.AsyncReplica);
        scope.Operation.MarkWrite(); // read-your-writes: the async replica must have replayed it, which nobody can ask a missing primary

        var d = router.Decide(RouteRequest.Read, scope);
        Assert.Equal(("node2", RouteDecisionReason.ReplicaBehindOperationWrites), (d.PoolName, d.Reason));
    }

    [Fact]
    public async Task During_an_election_GetCausalTokenAsync_waits_for_a_primary_then_names_the_cluster_state()
    {
        var router = ElectionRouter(out _);
        var data = new RoutingDataSource(router);
        var ex = await Assert.ThrowsAsync<PrimaryUnavailableException>(() => data.GetCausalTokenAsync());
        Assert.Contains("No primary is available", ex.Message);
    }

    [Fact]
    public void During_an_election_there_is_no_primary_object_and_the_connection_string_for_UseNpgsql_names_a_cluster_node()
    {
        var router = ElectionRouter(out _);

        // "No primary" is a state, not a pool: nothing to connect to by mistake, and configuration gets a real node.
        Assert.Null(router.CurrentPrimary);
        var host = new NpgsqlConnectionStringBuilder(new RoutingPools(router).PrimaryConnectionString).Host;
        Assert.Contains(host, new[] { "10.0.0.1", "10.0.0.2", "10.0.0.3" });
        Assert.Contains(new NpgsqlConnectionStringBuilder(new RoutingDataSource(router).ConnectionString).Host, new[] { "10.0.0.1", "10.0.0.2", "10.0.0.3" });
    }

    [Fact]
    public void Quorum_standbys_of_Patronis_quorum_mode_become_sync_pools()
    {
        var quorum = Cluster.Replace("\"role\": \"sync_standby\", \"state\": \"streaming\"", "\"role\": \"quorum_standby\", \"state\": \"streaming\"");
        var pools = PatroniDiscovery.ToPools(Members(quorum), new RoutingPoolOptions { ConnectionString = "Database=erp" });
        Assert.Equal(["node1:Primary", "node2:SyncReplica", "node3:AsyncReplica"], pools.Select(p => $"{p.Name}:{p.Role}"));
    }

    [Fact]
    public void During_an_election_there_is_no_primary_and_a_write_waits_then_fails_with_the_cluster_state()
    {
        var election = Cluster.Replace("\"role\": \"leader\", \"state\": \"running\"", "\"role\": \"replica\", \"state\": \"stopped\"");
        var members = Members(election);
        var pools = PatroniDiscovery.ToPools(members, new RoutingPoolOptions { ConnectionString = "Database=erp" });
        Assert.DoesNotContain(pools, p => p.Role == PoolRole.Primary);

        var options = new RoutingOptions { Pools = pools };
        options.Failover.PrimaryWaitTimeout = TimeSpan.FromMilliseconds(300);
        var topology = RoutingTopology.Build(options, new PoolHealthRegistry(), discovered: true);
        var router = new QueryRouter(topology);

        // Reads keep going on the replicas; a write never goes to a non-leader: it waits for a leader, then says why it could not.
        Assert.Equal("node2", router.Decide(RouteRequest.Read, null).PoolName);
        var started = Environment.TickCount64;
        var ex = Assert.Throws<PrimaryUnavailableException>(() => router.Decide(RouteRequest.Write, null));
        Assert.InRange(Environment.TickCount64 - started, 250, 5_000);
        Assert.Contains("No primary is available", ex.Message);
        Assert.Contains("nothing was sent", ex.Message);
    }

    [Fact]
    public void Describe_names_every_member_with_role_state_and_timeline()
    {
        var text = PatroniDiscovery.Describe(Members(Cluster));
        Assert.StartsWith("node1 (leader, running, timeline 3), node2 (sync_standby, streaming, timeline 3)", text);
    }

    [Theory]
    [InlineData("db1:8008", "must be an http(s) URL of a Patroni REST API")]
    [InlineData("ftp://db1", "must be an http(s) URL of a Patroni REST API")]
    public void Bad_endpoints_are_reported_with_the_fix(string endpoint, string expected)
    {
        var options = new RoutingOptions();
        options.Discovery.Patroni.Endpoints.Add(endpoint);
        options.Discovery.Patroni.Template.ConnectionString = "Database=erp";
        var errors = RoutingSdk.Configuration.RoutingOptionsValidator.Collect(options);
        Assert.Contains(errors, e => e.Contains("Discovery.Patroni.Endpoints[0]", StringComparison.Ordinal) && e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Discovery_needs_a_template_and_excludes_configured_pools()
    {
        var options = TestTopologiesAccessor.Standard();
        options.Discovery.Patroni.Endpoints.Add("http://db1:8008");
        options.Discovery.Patroni.RefreshInterval = TimeSpan.Zero;
        var errors = RoutingSdk.Configuration.RoutingOptionsValidator.Collect(options);
        Assert.Contains(errors, e => e.StartsWith("Discovery.Patroni.Endpoints and Pools are both set (4 pool(s))", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Discovery.Patroni.Template.ConnectionString is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Discovery.Patroni.RefreshInterval must be > 0", StringComparison.Ordinal));
    }

    private static class TestTopologiesAccessor
    {
        public static RoutingOptions Standard() => Routing.TestTopologies.Standard();
    }
}
