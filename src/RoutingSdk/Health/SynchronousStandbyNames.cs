using System.Globalization;

namespace RoutingSdk.Health;

/// <summary>
/// The primary's <c>synchronous_standby_names</c>, parsed, and the rule that says whether a standby has applied every
/// commit (so that a SyncReplica pool may serve reads). Grammar:
/// <c>[FIRST] n (name, ...)</c>, <c>ANY n (name, ...)</c>, or <c>name, ...</c> (= <c>FIRST 1</c>); <c>*</c> matches any standby.
/// https://www.postgresql.org/docs/current/runtime-config-replication.html#GUC-SYNCHRONOUS-STANDBY-NAMES
/// </summary>
internal sealed record SynchronousStandbyNames(bool IsQuorum, int Count, IReadOnlyList<string> Names)
{
    public static SynchronousStandbyNames? Parse(string? setting)
    {
        var text = setting?.Trim() ?? "";
        if (text.Length == 0)
        {
            return null;
        }

        var isQuorum = false;
        var count = 1;
        var list = text;
        var firstWord = text.Split([' ', '\t', '('], 2)[0];
        if (firstWord.Equals("ANY", StringComparison.OrdinalIgnoreCase) || firstWord.Equals("FIRST", StringComparison.OrdinalIgnoreCase))
        {
            isQuorum = firstWord.Equals("ANY", StringComparison.OrdinalIgnoreCase);
            text = text[firstWord.Length..].TrimStart();
        }

        var open = text.IndexOf('(', StringComparison.Ordinal);
        if (open > 0 && int.TryParse(text[..open].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            count = n;
            var close = text.LastIndexOf(')');
            list = close > open ? text[(open + 1)..close] : text[(open + 1)..];
        }
        else if (open == 0)
        {
            return null; // not valid PostgreSQL syntax; the server would not have accepted it
        }
        else
        {
            list = text;
        }

        var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(n => n.Length >= 2 && n[0] == '"' && n[^1] == '"' ? n[1..^1] : n)
            .ToArray();
        return new SynchronousStandbyNames(isQuorum, count, names);
    }

    /// <summary>What <c>pg_stat_replication</c> shows a login without pg_monitor: the standby's name but a NULL sync_state.</summary>
    public const string HiddenState = "(hidden: no privilege)";

    /// <summary>
    /// Whether every commit waits until <paramref name="node"/> applied it. <paramref name="states"/> is the primary's
    /// <c>pg_stat_replication</c>: application_name → sync_state. Priority mode (FIRST): the node is one of the
    /// standbys being waited for (<c>sync</c>). Quorum mode (ANY n): only when n covers every candidate — every listed
    /// name (or, with <c>*</c>, every connected candidate) — otherwise a commit may be acknowledged by the others.
    /// </summary>
    public bool Covers(string node, IReadOnlyDictionary<string, string> states, out string why)
    {
        if (!states.TryGetValue(node, out var state))
        {
            why = "not connected to the primary";
            return false;
        }

        if (state == HiddenState)
        {
            why = "the primary hides its sync_state from RoutingSdk's login (pg_stat_replication shows it only to superusers and members of pg_monitor / pg_read_all_stats); "
                + "grant it: GRANT pg_monitor TO <the pool's user>";
            return false;
        }

        if (!IsQuorum)
        {
            why = $"sync_state '{state}'";
            return state == "sync";
        }

        if (state != "quorum")
        {
            why = $"sync_state '{state}'";
            return false;
        }

        var candidates = states.Values.Count(s => s == "quorum");
        var listed = Names.Contains("*") ? candidates : Math.Max(Names.Count, candidates);
        why = $"ANY {Count} of {listed} standbys: a commit does not wait for every one of them";
        return Count >= listed;
    }

    public override string ToString() => $"{(IsQuorum ? "ANY" : "FIRST")} {Count} ({string.Join(", ", Names)})";
}
