namespace RoutingSdk.Health;

/// <summary>The health monitor's pure judgements of a replica from what the primary and the replica said.</summary>
internal static class ReplicaJudgement
{
    /// <summary>
    /// Readmitting a SyncReplica needs more than "commits wait for it now": a standby that only just became synchronous
    /// (<c>FIRST 1 (a, b)</c> after a left, or any evicted one coming back) may not yet have applied commits that were
    /// acknowledged by the others before. It is readmitted only by a check that saw it covered and caught up with the
    /// primary's WAL position taken at that same check; until then its reads could miss a commit a caller was told about.
    /// </summary>
    public static string? CatchUpProblem(string poolName, string node, ulong? replay, ulong? primaryLsn) =>
        primaryLsn is not ulong lsn ? null
        : replay is ulong applied && applied >= lsn ? null
        : $"node '{node}' of SyncReplica pool '{poolName}' is covered by synchronous_standby_names but has not yet applied every commit acknowledged before "
          + $"(replayed {FormatLsn(replay)}, primary at {FormatLsn(lsn)}): readmitted once it has";

    private static string FormatLsn(ulong? lsn) => lsn is ulong v ? $"{v >> 32:X}/{v & 0xFFFFFFFF:X}" : "nothing";

    /// <summary>
    /// A behind replica's lag. The time since its last replayed transaction overstates it after an idle stretch (an
    /// hour-old transaction, then one new write, would read as an hour of lag); when an earlier check saw the replica
    /// caught up with the primary, nothing it misses is older than that check, so the lag is at most the time since.
    /// </summary>
    public static double ReplicaLag(double sinceLastReplayMs, long? caughtUpAt, long now)
    {
        var bound = caughtUpAt is { } at ? (double)Math.Max(0, now - at) : double.PositiveInfinity;
        return double.IsNaN(sinceLastReplayMs) ? (double.IsInfinity(bound) ? double.NaN : bound) : Math.Min(sinceLastReplayMs, bound);
    }
}
