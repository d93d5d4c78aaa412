using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace RoutingSdk.Discovery;

/// <summary>One member of Patroni's <c>GET /cluster</c>.</summary>
internal sealed record PatroniMember(string Name, string Role, string State, string Host, int Port, int? Timeline);

/// <summary>
/// Reads the cluster from Patroni's REST API and turns its members into pools: leader → Primary, sync_standby (or quorum_standby) →
/// SyncReplica, any other running replica → AsyncReplica (never used automatically). Members that are not running
/// (stopped, starting, crashed, still being rebuilt) are left out.
/// https://patroni.readthedocs.io/en/latest/rest_api.html#cluster-status-endpoint
/// </summary>
internal sealed class PatroniDiscovery : IDisposable
{
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public PatroniDiscovery(PatroniDiscoveryOptions options)
    {
        Options = options;
        _http = new HttpClient { Timeout = options.RequestTimeout };
    }

    public PatroniDiscoveryOptions Options { get; }

    /// <summary>The members from the first endpoint that answers; null when none does (the reasons in <see cref="LastProblem"/>).</summary>
    public async Task<IReadOnlyList<PatroniMember>?> FetchAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        foreach (var endpoint in Options.Endpoints)
        {
            try
            {
                var url = endpoint.TrimEnd('/') + "/cluster";
                using var response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    problems.Add($"{endpoint}: HTTP {(int)response.StatusCode}");
                    continue;
                }

                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                using var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
                LastProblem = null;
                return Parse(json.RootElement);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !cancellationToken.IsCancellationRequested)
            {
                problems.Add($"{endpoint}: {ex.Message}");
            }
        }

        LastProblem = "no Patroni REST API answered (" + string.Join("; ", problems) + ")";
        return null;
    }

    /// <summary>Why the last fetch failed, if it did.</summary>
    public string? LastProblem { get; private set; }

    internal static IReadOnlyList<PatroniMember> Parse(JsonElement root)
    {
        var members = new List<PatroniMember>();
        if (!root.TryGetProperty("members", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return members;
        }

        foreach (var m in list.EnumerateArray())
        {
            string Text(string name) => m.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";
            var port = m.TryGetProperty("port", out var p) && p.TryGetInt32(out var n) ? n : 5432;
            int? timeline = m.TryGetProperty("timeline", out var t) && t.TryGetInt32(out var tl) ? tl : null;
            members.Add(new PatroniMember(Text("name"), Text("role"), Text("state"), Text("host"), port, timeline));
        }

        return members;
    }

    /// <summary>The pools for a member list; the leader only when it is running, replicas only when running or streaming.</summary>
    public static List<RoutingPoolOptions> ToPools(IReadOnlyList<PatroniMember> members, RoutingPoolOptions template)
    {
        var pools = new List<RoutingPoolOptions>();
        foreach (var member in members.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            var running = member.State is "running" or "streaming";
            PoolRole? role = member.Role switch
            {
                "leader" or "master" or "primary" when member.State == "running" => PoolRole.Primary,
                // quorum_standby: Patroni's synchronous_mode: quorum (ANY n). The health monitor still checks that every
                // commit waits for it (ANY n covering every candidate) before it serves reads.
                "sync_standby" or "quorum_standby" when running => PoolRole.SyncReplica,
                "replica" or "standby_leader" when running => PoolRole.AsyncReplica,
                _ => null,
            };
            if (role is null || string.IsNullOrEmpty(member.Name) || string.IsNullOrEmpty(member.Host))
            {
                continue;
            }

            var csb = new NpgsqlConnectionStringBuilder(template.ConnectionString) { Host = member.Host, Port = member.Port };
            pools.Add(new RoutingPoolOptions
            {
                Name = member.Name, ConnectionString = csb.ConnectionString, Role = role.Value, Priority = template.Priority, UsageRatio = template.UsageRatio,
                MinPoolSize = template.MinPoolSize, MaxPoolSize = template.MaxPoolSize, PoolTimeoutSeconds = template.PoolTimeoutSeconds,
                InactiveConnectionTimeoutSeconds = template.InactiveConnectionTimeoutSeconds, PruningIntervalSeconds = template.PruningIntervalSeconds,
            });
        }

        return pools;
    }

    /// <summary>A stable description of a member list (what changes it is a topology change).</summary>
    public static string Describe(IReadOnlyList<PatroniMember> members) =>
        members.Count == 0
            ? "Patroni lists no members"
            : string.Join(", ", members.OrderBy(m => m.Name, StringComparer.Ordinal).Select(m =>
                string.Create(CultureInfo.InvariantCulture, $"{m.Name} ({m.Role}, {m.State}{(m.Timeline is int t ? ", timeline " + t : "")})")));

    /// <summary>
    /// Hands the first answer to <paramref name="apply"/> before returning (bounded by the request timeout of each
    /// endpoint), so the application starts with the real topology; then polls every RefreshInterval in the background.
    /// Neither runs in the caller's execution context (no TransactionScope or RoutingScope of a caller leaks in).
    /// </summary>
    public void Start(Action<IReadOnlyList<PatroniMember>> apply, Action<string> failed)
    {
        var stop = _stop.Token;
        using var noFlow = ExecutionContext.SuppressFlow();
        try
        {
            if (Task.Run(() => FetchAsync(stop)).GetAwaiter().GetResult() is { } members)
            {
                apply(members);
            }
            else
            {
                failed(LastProblem ?? "no answer");
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            failed(ex.Message);
        }

        _loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(Options.RefreshInterval, stop).ConfigureAwait(false);
                    if (await FetchAsync(stop).ConfigureAwait(false) is { } found)
                    {
                        apply(found);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    failed(ex.Message);
                }
            }
        }, CancellationToken.None);
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        _http.Dispose();
    }
}
