using System.Globalization;

namespace RoutingSdk;

/// <summary>
/// A point in the primary's WAL (an LSN) that a later read must see. Carry it across requests or services as a
/// string (cookie, header, message) and pass it to <see cref="RoutingScope.WaitFor(CausalToken)"/>.
/// </summary>
public readonly record struct CausalToken
{
    private const string Prefix = "lsn:";

    internal CausalToken(ulong lsn) => Lsn = lsn;

    internal ulong Lsn { get; }

    /// <summary>Parses a token made by <see cref="ToString"/>.</summary>
    /// <exception cref="FormatException">The text is not a causal token.</exception>
    public static CausalToken Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var token)
            ? token
            : throw new FormatException($"'{text}' is not a RoutingSdk causal token (expected 'lsn:<hex>/<hex>', as made by CausalToken.ToString()).");
    }

    /// <summary>Parses a token made by <see cref="ToString"/>.</summary>
    public static bool TryParse(string? text, out CausalToken token)
    {
        token = default;
        if (text is null || !text.StartsWith(Prefix, StringComparison.Ordinal) || !TryParseLsn(text[Prefix.Length..], out var lsn))
        {
            return false;
        }

        token = new CausalToken(lsn);
        return true;
    }

    /// <summary>The token as text: <c>lsn:XXXXXXXX/XXXXXXXX</c>, PostgreSQL's own LSN notation.</summary>
    public override string ToString() => Prefix + FormatLsn(Lsn);

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
