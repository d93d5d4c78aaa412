namespace RoutingSdk;

/// <summary>Where a business operation's reads may go.</summary>
/// <remarks>Strictness, from strictest: <see cref="MasterOnly"/> &gt; <see cref="ReadReplica"/> &gt; <see cref="AsyncReplica"/>.
/// Nested scopes only ever get stricter; <see cref="Default"/> inherits the outer route.</remarks>
public enum RouteKind
{
    /// <summary>No explicit choice: the outer scope's route, else <see cref="RoutingOptions.DefaultRoute"/>.</summary>
    Default = 0,

    /// <summary>Reads outside transactions go to synchronous replicas (data visible as soon as COMMIT returns on the primary).</summary>
    ReadReplica = 1,

    /// <summary>Reads may go to asynchronous replicas, which may lag; used only where an operation opts in.</summary>
    AsyncReplica = 2,

    /// <summary>Every statement goes to the primary.</summary>
    MasterOnly = 3,
}
