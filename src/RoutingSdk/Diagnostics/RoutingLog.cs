using Microsoft.Extensions.Logging;

namespace RoutingSdk.Diagnostics;

/// <summary>Structured log messages. Never a connection string, never SQL above Debug.</summary>
internal static partial class RoutingLog
{
    [LoggerMessage(1, LogLevel.Debug, "Routed to {Pool} ({Reason}); route {Route}, category {Category}, scenario {Scenario}")]
    public static partial void Decision(ILogger logger, string pool, RouteDecisionReason reason, RouteKind route, RoutingCategory category, string? scenario);

    [LoggerMessage(2, LogLevel.Information, "Routing configuration reloaded: {PoolCount} pools, {OverrideCount} overrides")]
    public static partial void Reloaded(ILogger logger, int poolCount, int overrideCount);

    [LoggerMessage(3, LogLevel.Error, "Routing configuration reload rejected; the previous configuration stays in force. {Problems}")]
    public static partial void ReloadRejected(ILogger logger, string problems);

    [LoggerMessage(4, LogLevel.Warning, "Routing configuration: {Warning}")]
    public static partial void ConfigurationWarning(ILogger logger, string warning);

    [LoggerMessage(5, LogLevel.Information, "Topology from Patroni: {Members}")]
    public static partial void Discovered(ILogger logger, string members);

    [LoggerMessage(6, LogLevel.Warning, "Patroni discovery failed; the last known topology stays in force: {Problem}")]
    public static partial void DiscoveryFailed(ILogger logger, string problem);

    [LoggerMessage(7, LogLevel.Warning, "Primary {Pool} lost ({Problem}); waiting for a primary")]
    public static partial void PrimaryLost(ILogger logger, string pool, string problem);

    [LoggerMessage(8, LogLevel.Warning, "Pool {Pool} answers as the primary and no configured primary does: following the failover ({Roles}). Update the configuration, or use Discovery.Patroni, a VIP or a multi-host Primary pool.")]
    public static partial void PromotionFollowed(ILogger logger, string pool, string roles);

    [LoggerMessage(9, LogLevel.Warning, "An [AsyncReplica] read with a lag limit found no measured lag for the asynchronous replicas, so a synchronous replica served it (reason LagUnknown). The health monitor measures the lag: it starts with the host, or on the first query when there is no host; if Health.Enabled is false, no AsyncReplica read with a lag limit can use an asynchronous replica.")]
    public static partial void LagUnknown(ILogger logger);

    [LoggerMessage(10, LogLevel.Information, "No generic host runs RoutingSdk's health monitor: started on first use; it stops with the service provider.")]
    public static partial void MonitorStartedOnFirstUse(ILogger logger);
}
