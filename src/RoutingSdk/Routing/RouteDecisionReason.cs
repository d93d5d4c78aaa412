namespace RoutingSdk;

/// <summary>Why a pool was chosen.</summary>
public enum RouteDecisionReason
{
    /// <summary>A read outside a transaction, spread over the read pools by weight.</summary>
    ReadOutsideTransaction = 0,

    /// <summary>A write command: always the primary.</summary>
    WriteCommand,

    /// <summary>A statement inside a transaction: always the primary.</summary>
    InsideTransaction,

    /// <summary>The operation is <see cref="RouteKind.MasterOnly"/>.</summary>
    MasterOnlyScope,

    /// <summary>An outer, stricter scope overrode the operation's own route (e.g. a MasterOnly interface calling a ReadReplica report).</summary>
    StricterOuterScope,

    /// <summary><see cref="RoutingOptions.DefaultRoute"/> is <see cref="DefaultRoute.Primary"/> and the operation chose no route.</summary>
    DefaultRouteMaster,

    /// <summary>A plain ADO.NET connection without an explicit replica route: the caller may write, so the primary.</summary>
    ConnectionNotExplicitlyRouted,

    /// <summary>A connection opened by the caller (not by a query), which may later host writes or a transaction: the primary.</summary>
    UserOpenedConnection,

    /// <summary>A runtime override (by category or scenario) chose the route or pool.</summary>
    OverriddenByConfiguration,

    /// <summary>The operation opted into asynchronous replicas and one within its lag limit was healthy.</summary>
    AsyncReplicaRequested,

    /// <summary>Every asynchronous replica's measured lag was beyond the operation's limit; a synchronous replica or the primary served it.</summary>
    LagAboveLimit,

    /// <summary>No asynchronous replica was healthy; a synchronous replica or the primary served it.</summary>
    AsyncReplicasUnavailable,

    /// <summary>No read pool was healthy: the primary as the last resort.</summary>
    ReplicasUnavailable,

    /// <summary>The read was retried on another node after a replica cancelled it (recovery conflict) or died.</summary>
    RetryAfterRecoveryConflict,

    /// <summary>Earlier in this operation a commit was not confirmed by the synchronous replicas; its reads stay on the primary.</summary>
    ReplicationNotConfirmed,

    /// <summary>The asynchronous replicas had not replayed this operation's writes (or its causal token) in time: a synchronous replica served it.</summary>
    ReplicaBehindOperationWrites,

    /// <summary>The query was marked for the primary (EF Core <c>.OnPrimary()</c>): it reads like a query but may write (nextval, FOR UPDATE).</summary>
    QueryMarkedForPrimary,

    /// <summary>
    /// The operation set a lag limit but no asynchronous replica's lag has been measured yet (the health monitor has not
    /// completed a round): a synchronous replica or the primary served it.
    /// </summary>
    LagUnknown,
}
