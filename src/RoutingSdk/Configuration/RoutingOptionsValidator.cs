using Microsoft.Extensions.Options;
using Npgsql;

namespace RoutingSdk.Configuration;

/// <summary>Checks <see cref="RoutingOptions"/> and reports every problem at once, each naming the setting, the value and the fix.</summary>
internal sealed class RoutingOptionsValidator : IValidateOptions<RoutingOptions>
{
    private int _passedOnce;

    public ValidateOptionsResult Validate(string? name, RoutingOptions options)
    {
        // Start-up fails with every problem. Once valid options were seen, reloads are checked by QueryRouter, which
        // logs a rejected reload and keeps the previous snapshot: failing here would throw on the reload thread
        // (IOptionsMonitor validates inside the configuration change callback) and the app would keep stale state silently.
        if (Volatile.Read(ref _passedOnce) == 1)
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = Collect(options);
        if (errors.Count > 0)
        {
            return ValidateOptionsResult.Fail(errors);
        }

        Volatile.Write(ref _passedOnce, 1);
        return ValidateOptionsResult.Success;
    }

    // discovered: the pools were discovered (Patroni); a set without a leader (an election) is valid, and overrides
    // may name members that are not there right now.
    public static List<string> Collect(RoutingOptions options, bool discovered = false)
    {
        if (Tenants.ClusterSet.IsMultiCluster(options))
        {
            return TenancyOptionsValidator.Collect(options);
        }

        var errors = new List<string>();
        if (options.Tenants is { } tenants && (tenants.Map is { Count: > 0 } || tenants.DefaultCluster is not null || tenants.FrozenTenants is { Count: > 0 }))
        {
            errors.Add("Routing:Tenants is set but Routing:Clusters is empty: a tenant map chooses between named clusters. Move the pools into Routing:Clusters:<name> "
                + "(one entry per cluster), or remove Routing:Tenants.");
        }

        if (!Enum.IsDefined(options.DefaultRoute))
        {
            errors.Add($"RoutingOptions.DefaultRoute must be ReadReplica or Primary (was {options.DefaultRoute}).");
        }

        if (options.Discovery?.Patroni is { Enabled: true } patroni && !discovered)
        {
            ValidateDiscovery(patroni, options.Pools, errors);
            ValidateOverrides(options.Overrides, null, errors);
            ValidateBehaviour(options, errors);
            return errors;
        }

        if (discovered && (options.Pools is null || options.Pools.Count == 0))
        {
            return errors;
        }

        if (options.Pools is null || options.Pools.Count == 0)
        {
            errors.Add("RoutingOptions.Pools is empty: add a Primary pool (the WritePool) and at least one read pool, or import a global3config.xml.");
            return errors;
        }

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Pools.Count; i++)
        {
            var pool = options.Pools[i];
            if (pool is null)
            {
                errors.Add($"RoutingOptions.Pools[{i}] is null: remove the entry.");
                continue;
            }

            var label = string.IsNullOrWhiteSpace(pool.Name) ? $"Pools[{i}]" : $"Pool '{pool.Name}'";
            if (string.IsNullOrWhiteSpace(pool.Name))
            {
                errors.Add($"Pools[{i}]: Name is required (e.g. \"WritePool\", \"ReadPool\").");
            }
            else if (!names.Add(pool.Name))
            {
                errors.Add($"{label}: the name is used by more than one pool; pool names must be unique (case-insensitive).");
            }

            if (!Enum.IsDefined(pool.Role))
            {
                errors.Add($"{label}: Role must be Primary, SyncReplica or AsyncReplica (was {pool.Role}).");
            }

            ValidateConnectionString(pool, label, errors);

            if (!(pool.UsageRatio > 0) || double.IsInfinity(pool.UsageRatio))
            {
                errors.Add($"{label}: UsageRatio must be > 0 (was {pool.UsageRatio}). It is the pool's relative weight inside its priority group.");
            }

            if (pool.EffectiveAcceptTxSession && pool.Role != PoolRole.Primary)
            {
                errors.Add($"{label}: AcceptTxSession is true but Role is {pool.Role}; transactions and writes must run on the primary. Set AcceptTxSession=false or Role=Primary.");
            }

            if (pool.Role == PoolRole.AsyncReplica && pool.EffectiveAcceptNoTxSession)
            {
                errors.Add($"{label}: an AsyncReplica pool must not accept no-transaction sessions (AcceptNoTxSession=true), or every read could see stale data; asynchronous replicas are used only by [AsyncReplica] operations. Set AcceptNoTxSession=false.");
            }

            ValidateSize(label, "MinPoolSize", pool.MinPoolSize, 0, errors);
            ValidateSize(label, "MaxPoolSize", pool.MaxPoolSize, 1, errors);
            ValidateSize(label, "PoolTimeoutSeconds", pool.PoolTimeoutSeconds, 0, errors);
            ValidateSize(label, "InactiveConnectionTimeoutSeconds", pool.InactiveConnectionTimeoutSeconds, 1, errors);
            ValidateSize(label, "PruningIntervalSeconds", pool.PruningIntervalSeconds, 1, errors);
            if (pool.MinPoolSize is int min && pool.MaxPoolSize is int max && min > max)
            {
                errors.Add($"{label}: MinPoolSize ({min}) is larger than MaxPoolSize ({max}).");
            }
        }

        var valid = options.Pools.Where(p => p is not null).ToList();
        if (!discovered && !valid.Any(p => p.EffectiveAcceptTxSession))
        {
            errors.Add("No pool accepts transactions: add a pool with Role=Primary (AcceptTxSession defaults to true for it); writes and transactions need the master.");
        }

        ValidateOverrides(options.Overrides, discovered ? null : valid, errors);
        ValidateBehaviour(options, errors);
        return errors;
    }

    private static void ValidateDiscovery(PatroniDiscoveryOptions patroni, List<RoutingPoolOptions>? pools, List<string> errors)
    {
        if (pools is { Count: > 0 })
        {
            errors.Add($"Discovery.Patroni.Endpoints and Pools are both set ({pools.Count} pool(s)): discovered pools replace configured ones. Remove Pools, or remove Discovery.Patroni.Endpoints to configure pools by hand.");
        }

        for (var i = 0; i < patroni.Endpoints.Count; i++)
        {
            var endpoint = patroni.Endpoints[i];
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"Discovery.Patroni.Endpoints[{i}] must be an http(s) URL of a Patroni REST API, e.g. http://db1:8008 (was '{endpoint}').");
            }
        }

        if (patroni.RefreshInterval <= TimeSpan.Zero)
        {
            errors.Add($"Discovery.Patroni.RefreshInterval must be > 0 (was {patroni.RefreshInterval}).");
        }

        if (patroni.RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add($"Discovery.Patroni.RequestTimeout must be > 0 (was {patroni.RequestTimeout}).");
        }

        var template = patroni.Template ?? new RoutingPoolOptions();
        if (string.IsNullOrWhiteSpace(template.ConnectionString))
        {
            errors.Add("Discovery.Patroni.Template.ConnectionString is required: database, username and password for every member (Host and Port come from Patroni), e.g. \"Database=erp;Username=erp;Password=...\".");
        }
        else
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(template.ConnectionString);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"Discovery.Patroni.Template.ConnectionString cannot be parsed by Npgsql: {ex.Message.Split('(')[0].Trim()}");
            }
        }

        if (!(template.UsageRatio > 0) || double.IsInfinity(template.UsageRatio))
        {
            errors.Add($"Discovery.Patroni.Template.UsageRatio must be > 0 (was {template.UsageRatio}).");
        }

        ValidateSize("Discovery.Patroni.Template", "MinPoolSize", template.MinPoolSize, 0, errors);
        ValidateSize("Discovery.Patroni.Template", "MaxPoolSize", template.MaxPoolSize, 1, errors);
        ValidateSize("Discovery.Patroni.Template", "PoolTimeoutSeconds", template.PoolTimeoutSeconds, 0, errors);
    }

    private static void ValidateBehaviour(RoutingOptions options, List<string> errors)
    {
        if (options.Failover is { } failover && failover.PrimaryWaitTimeout < TimeSpan.Zero)
        {
            errors.Add($"Failover.PrimaryWaitTimeout must not be negative (was {failover.PrimaryWaitTimeout}); 0 fails at once when there is no primary.");
        }

        if (options.ReadRetry is { MaxRetries: < 0 or > 10 } retry)
        {
            errors.Add($"ReadRetry.MaxRetries must be between 0 and 10 (was {retry.MaxRetries}); 2 retries reach another replica and then the primary.");
        }

        if (options.Health is { } health)
        {
            if (health.Interval <= TimeSpan.Zero)
            {
                errors.Add($"Health.Interval must be > 0 (was {health.Interval}).");
            }

            if (health.CheckTimeout <= TimeSpan.Zero)
            {
                errors.Add($"Health.CheckTimeout must be > 0 (was {health.CheckTimeout}).");
            }

            if (health.ReadmitAfterConsecutiveChecks < 1)
            {
                errors.Add($"Health.ReadmitAfterConsecutiveChecks must be >= 1 (was {health.ReadmitAfterConsecutiveChecks}).");
            }

            if (!Enum.IsDefined(health.VerifyTopologyAtStart))
            {
                errors.Add($"Health.VerifyTopologyAtStart must be Off, Warn or Fail (was {health.VerifyTopologyAtStart}).");
            }
        }

        if (options.Consistency is { } consistency)
        {
            if (consistency.ReadYourWritesMaxWait < TimeSpan.Zero)
            {
                errors.Add($"Consistency.ReadYourWritesMaxWait must not be negative (was {consistency.ReadYourWritesMaxWait}).");
            }

            if (consistency.CommitTimeout is { } timeout && timeout <= TimeSpan.Zero)
            {
                errors.Add($"Consistency.CommitTimeout must be > 0 when set (was {timeout}); leave it unset to wait for the replicas as PostgreSQL does.");
            }

            if (!Enum.IsDefined(consistency.OnUnconfirmedCommit))
            {
                errors.Add($"Consistency.OnUnconfirmedCommit must be Throw or Report (was {consistency.OnUnconfirmedCommit}).");
            }
        }
    }

    private static void ValidateConnectionString(RoutingPoolOptions pool, string label, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(pool.ConnectionString))
        {
            errors.Add($"{label}: ConnectionString is required (e.g. \"Host=replica1;Port=5432;Database=erp;Username=app\").");
            return;
        }

        NpgsqlConnectionStringBuilder csb;
        try
        {
            csb = new NpgsqlConnectionStringBuilder(pool.ConnectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            // The message names the bad keyword but never echoes the string itself, which may hold a password.
            errors.Add($"{label}: ConnectionString cannot be parsed by Npgsql: {ex.Message} Fix the keyword or value it names.");
            return;
        }

        if (string.IsNullOrWhiteSpace(csb.Host))
        {
            errors.Add($"{label}: ConnectionString has no Host; add Host=<server or balancer address>.");
        }

        CheckConflict(label, "MinPoolSize", pool.MinPoolSize, "Minimum Pool Size", csb.MinPoolSize, 0, errors);
        CheckConflict(label, "MaxPoolSize", pool.MaxPoolSize, "Maximum Pool Size", csb.MaxPoolSize, 100, errors);
        CheckConflict(label, "PoolTimeoutSeconds", pool.PoolTimeoutSeconds, "Timeout", csb.Timeout, 15, errors);
        CheckConflict(label, "InactiveConnectionTimeoutSeconds", pool.InactiveConnectionTimeoutSeconds, "Connection Idle Lifetime", csb.ConnectionIdleLifetime, 300, errors);
        CheckConflict(label, "PruningIntervalSeconds", pool.PruningIntervalSeconds, "Connection Pruning Interval", csb.ConnectionPruningInterval, 10, errors);
    }

    private static void CheckConflict(string label, string option, int? optionValue, string keyword, int csValue, int npgsqlDefault, List<string> errors)
    {
        if (optionValue is int v && csValue != npgsqlDefault && csValue != v)
        {
            errors.Add($"{label}: {option} is {v} but the connection string sets '{keyword}={csValue}'; set it in one place only.");
        }
    }

    private static void ValidateSize(string label, string option, int? value, int minimum, List<string> errors)
    {
        if (value is int v && v < minimum)
        {
            errors.Add($"{label}: {option} must be >= {minimum} (was {v}).");
        }
    }

    private static void ValidateOverrides(RoutingOverrideOptions? overrides, List<RoutingPoolOptions>? pools, List<string> errors)
    {
        if (overrides is null)
        {
            return;
        }

        foreach (var (category, ov) in overrides.Categories ?? [])
        {
            if (!RouteStrictness.IsDefined(category))
            {
                errors.Add($"Overrides.Categories: unknown category '{category}'; use Interface, Report, PrintForm or Other.");
                continue;
            }

            ValidateOverride($"Overrides.Categories.{category}", ov, pools, errors);
        }

        foreach (var (scenario, ov) in overrides.Scenarios ?? [])
        {
            if (string.IsNullOrWhiteSpace(scenario))
            {
                errors.Add("Overrides.Scenarios: a scenario name is empty; use the scenario of the operation (Type.Method by default).");
                continue;
            }

            ValidateOverride($"Overrides.Scenarios.{scenario}", ov, pools, errors);
        }
    }

    // pools: the configured pools; null when they are discovered (names cannot be checked before).
    private static void ValidateOverride(string path, RouteOverride? ov, List<RoutingPoolOptions>? pools, List<string> errors)
    {
        if (ov is null || (ov.Route is null && ov.Pool is null))
        {
            errors.Add($"{path}: set Route (MasterOnly, ReadReplica or AsyncReplica) or Pool (a read pool's name).");
            return;
        }

        if (ov.Route is RouteKind route && (route == RouteKind.Default || !RouteStrictness.IsDefined(route)))
        {
            errors.Add($"{path}: Route must be MasterOnly, ReadReplica or AsyncReplica (was {route}).");
        }

        if (pools is null)
        {
            return;
        }

        if (ov.Route == RouteKind.AsyncReplica && !pools.Any(p => p.Role == PoolRole.AsyncReplica))
        {
            errors.Add($"{path}: Route is AsyncReplica but no pool has Role=AsyncReplica; add one or choose ReadReplica/MasterOnly.");
        }

        if (ov.Pool is not null)
        {
            var pool = pools.FirstOrDefault(p => string.Equals(p.Name, ov.Pool, StringComparison.OrdinalIgnoreCase));
            if (pool is null)
            {
                errors.Add($"{path}: Pool '{ov.Pool}' is not defined; known pools: {string.Join(", ", pools.Select(p => p.Name))}.");
            }
            else if (!pool.EffectiveAcceptNoTxSession && pool.Role != PoolRole.AsyncReplica)
            {
                errors.Add($"{path}: Pool '{ov.Pool}' does not serve reads outside transactions; name a SyncReplica/AsyncReplica pool or a pool with AcceptNoTxSession=true.");
            }
        }
    }
}
