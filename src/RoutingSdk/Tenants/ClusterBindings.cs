namespace RoutingSdk.Tenants;

/// <summary>
/// Keeps an operation (<see cref="RoutingScope"/>), a TransactionScope and a causal token's reads on one cluster: the
/// cluster of the operation's first statement, of the transaction's first connection, of the token's primary.
/// </summary>
internal sealed class ClusterBindings
{
    // TransactionScopes by their local identifier, which a DependentClone (another thread's share of the same
    // transaction) has too; removed when the transaction completes.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, RoutingCluster> _transactions = new();

    /// <summary>
    /// The cluster a statement goes to: the operation's, if it is bound already (an operation that began before its
    /// tenant was moved finishes its reads where it began), else <paramref name="mapped"/>. Throws when the operation
    /// serves another tenant, when a write would land on a cluster its tenant was moved from, or when the current
    /// TransactionScope belongs to another cluster.
    /// </summary>
    public RoutingCluster Effective(RoutingScope? scope, string? tenant, RoutingCluster mapped, bool mayWrite)
    {
        var cluster = mapped;
        if (scope?.Operation.BoundCluster is { } binding)
        {
            var bound = (RoutingCluster)binding.Cluster;
            if (!string.Equals(binding.Tenant, tenant, StringComparison.OrdinalIgnoreCase))
            {
                throw new CrossClusterOperationException(
                    bound.Name!, mapped.Name!,
                    $"The operation {Describe(scope)} began for {TenantText(binding.Tenant)} on {bound.DisplayName} and now runs for {TenantText(tenant)}. "
                    + "One operation serves one tenant: begin the TenantScope outside the RoutingScope (or [ReadReplica]/[MasterOnly] method), one operation per tenant.");
            }

            if (!ReferenceEquals(bound, mapped))
            {
                if (mayWrite)
                {
                    throw new CrossClusterOperationException(
                        bound.Name!, mapped.Name!,
                        $"Tenant '{tenant}' was moved from {bound.DisplayName} to {mapped.DisplayName} while the operation {Describe(scope)} ran; its write was not sent "
                        + $"(it would have landed on {bound.DisplayName}). Repeat the operation: it will run on {mapped.DisplayName}.");
                }

                cluster = bound;
            }
        }

        // A causal token's position belongs to the WAL of the cluster it was taken on: compared with another cluster's
        // replay position it would let a stale read through, or wait for nothing.
        if (scope?.Operation.TokenCluster is { } tokenCluster && !string.Equals(tokenCluster, cluster.Name, StringComparison.OrdinalIgnoreCase))
        {
            throw new CrossClusterOperationException(
                tokenCluster, cluster.Name!,
                $"The operation {Describe(scope)} waits for a causal token taken on cluster '{tokenCluster}' and runs for {TenantText(tenant)} on {cluster.DisplayName}. "
                + "Nothing was sent: a token orders reads of its own cluster only. Hand a token only to operations of the same tenant (and not across a move).");
        }

        if (System.Transactions.Transaction.Current is { } transaction
            && _transactions.TryGetValue(transaction.TransactionInformation.LocalIdentifier, out var owner) && !ReferenceEquals(owner, cluster))
        {
            throw CrossTransaction(owner, cluster, tenant);
        }

        return cluster;
    }

    /// <summary>Binds the operation and the current TransactionScope to <paramref name="cluster"/>; false when another statement of the operation bound it elsewhere first.</summary>
    public bool Bind(RoutingScope? scope, string? tenant, RoutingCluster cluster)
    {
        if (scope is not null)
        {
            var binding = scope.Operation.BindCluster(tenant, cluster);
            if (!ReferenceEquals(binding.Cluster, cluster) || !string.Equals(binding.Tenant, tenant, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        if (System.Transactions.Transaction.Current is { } transaction)
        {
            var id = transaction.TransactionInformation.LocalIdentifier;
            if (_transactions.TryAdd(id, cluster))
            {
                transaction.TransactionCompleted += (_, _) => _transactions.TryRemove(new KeyValuePair<string, RoutingCluster>(id, cluster));
            }
            else if (_transactions.TryGetValue(id, out var owner) && !ReferenceEquals(owner, cluster))
            {
                throw CrossTransaction(owner, cluster, tenant);
            }
        }

        return true;
    }

    private static CrossClusterOperationException CrossTransaction(RoutingCluster owner, RoutingCluster cluster, string? tenant) =>
        new(owner.Name!, cluster.Name!,
            $"A TransactionScope begun on {owner.DisplayName} would reach {cluster.DisplayName} ({TenantText(tenant)}): a transaction cannot span clusters. "
            + "Use one TransactionScope per tenant.");

    private static string Describe(RoutingScope scope) => scope.Scenario is { } s ? $"'{s}'" : "(no scenario)";

    private static string TenantText(string? tenant) => tenant is null ? "no tenant" : $"tenant '{tenant}'";
}
