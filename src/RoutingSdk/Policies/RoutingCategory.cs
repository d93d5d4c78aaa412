namespace RoutingSdk;

/// <summary>The kind of business operation, used by runtime overrides and metrics.</summary>
public enum RoutingCategory
{
    /// <summary>Anything else (the default).</summary>
    Other = 0,

    /// <summary>A user interface form or an integration endpoint.</summary>
    Interface = 1,

    /// <summary>A report.</summary>
    Report = 2,

    /// <summary>A print form.</summary>
    PrintForm = 3,
}
