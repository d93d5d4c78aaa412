using System.Net;

namespace RoutingSdk.AspNetCore.Dashboard;

/// <summary>The page: one embedded HTML file with inline script and style, filled with the antiforgery token.</summary>
internal static class DashboardPage
{
    private static readonly string Template = Load();

    private static string Load()
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream("RoutingSdk.AspNetCore.dashboard.html")
            ?? throw new InvalidOperationException("RoutingSdk.AspNetCore was built without its dashboard.html resource.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static string Render(string antiforgeryToken, bool switchesMapped) =>
        Template
            .Replace("{{antiforgery}}", WebUtility.HtmlEncode(antiforgeryToken), StringComparison.Ordinal)
            .Replace("{{switches}}", switchesMapped && antiforgeryToken.Length > 0 ? "on" : "off", StringComparison.Ordinal);
}
