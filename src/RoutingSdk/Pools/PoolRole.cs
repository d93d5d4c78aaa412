namespace RoutingSdk;

/// <summary>What a pool's node is.</summary>
public enum PoolRole
{
    /// <summary>The master (WritePool): writes and every statement inside a transaction.</summary>
    Primary = 0,

    /// <summary>A synchronous replica (<c>remote_apply</c>): reads outside transactions, spread by <c>UsageRatio</c>.</summary>
    SyncReplica = 1,

    /// <summary>An asynchronous replica: never used automatically, only by operations routed <see cref="RouteKind.AsyncReplica"/>.</summary>
    AsyncReplica = 2,
}
