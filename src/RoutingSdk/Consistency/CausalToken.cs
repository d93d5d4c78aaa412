using System.Globalization;

namespace RoutingSdk;

/// <summary>
/// A point in the primary's WAL (an LSN) that a later read must see. Carry it across requests or services as a
/// string (cookie, header, message) and pass it to <see cref="RoutingScope.WaitFor(CausalToken)"/>.
/// </summary>
public readonly record struct CausalToken
{
    private const string Prefix = "lsn:";

    internal CausalToken(ulong lsn, int timeline = 0, string? cluster = null)
    {
        Lsn = lsn;
        Timeline = timeline;
        Cluster = cluster;
    }

    internal ulong Lsn { get; }

    /// <summary>The primary's timeline when the token was taken; 0 when unknown (a token of an earlier version).</summary>
    internal int Timeline { get; }

    /// <summary>
    /// The cluster (<see cref="RoutingOptions.Clusters"/>) whose primary the position belongs to; <see langword="null"/>
    /// with one cluster configured. A position means nothing on another cluster's WAL.
    /// </summary>
    internal string? Cluster { get; }

    /// <summary>Parses a token made by <see cref="ToString"/>.</summary>
    /// <exception cref="FormatException">The text is not a causal token.</exception>
    public static CausalToken Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var token)
            ? token
            : throw new FormatException($"'{text}' is not a RoutingSdk causal token (expected 'lsn:<hex>/<hex>', optionally followed by '@<timeline>' and '~<cluster>', as made by CausalToken.ToString()).");
    }

    /// <summary>Parses a token made by <see cref="ToString"/>.</summary>
    public static bool TryParse(string? text, out CausalToken token)
    {
        token = default;
        if (text is null || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var body = text.AsSpan(Prefix.Length);
        string? cluster = null;
        var tilde = body.IndexOf('~'); // the first: a cluster's name may hold '~' (unreserved, not escaped), the position and timeline never do
        if (tilde >= 0)
        {
            cluster = Uri.UnescapeDataString(body[(tilde + 1)..].ToString());
            if (cluster.Length == 0)
            {
                return false;
            }

            body = body[..tilde];
        }

        var timeline = 0;
        var at = body.IndexOf('@');
        if (at >= 0)
        {
            if (!int.TryParse(body[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out timeline) || timeline <= 0)
            {
                return false;
            }

            body = body[..at];
        }

        if (!TryParseLsn(body.ToString(), out var lsn))
        {
            return false;
        }

        token = new CausalToken(lsn, timeline, cluster);
        return true;
    }

    /// <summary>
    /// The token as text: <c>lsn:XXXXXXXX/XXXXXXXX@T</c>, PostgreSQL's own LSN notation and the primary's timeline
    /// (a failover starts a new one), and with several clusters configured <c>~cluster</c>, the cluster it was taken
    /// on. Tokens without <c>@T</c> or <c>~cluster</c> are accepted too.
    /// </summary>
    public override string ToString() =>
        Prefix + FormatLsn(Lsn) + (Timeline > 0 ? "@" + Timeline.ToString(CultureInfo.InvariantCulture) : "") + (Cluster is { } c ? "~" + Uri.EscapeDataString(c) : "");

    internal static string FormatLsn(ulong lsn) => $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}";

    internal static bool TryParseLsn(string text, out ulong lsn)
    {
        lsn = 0;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0
            || !uint.TryParse(text.AsSpan(0, slash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var high)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var low))
        {
            return false;
        }

        lsn = ((ulong)high << 32) | low;
        return true;
    }
}
