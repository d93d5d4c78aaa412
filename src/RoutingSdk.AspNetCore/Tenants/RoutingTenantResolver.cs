using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace RoutingSdk.AspNetCore.Tenants;

/// <summary>The outcome of looking for a request's tenant: the tenant, or why none was usable.</summary>
/// <param name="Tenant">The trimmed tenant, or <see langword="null"/> when no source yielded a usable one.</param>
/// <param name="Notes">Why values that were present were not usable (blank, several different values); empty otherwise.</param>
internal readonly record struct TenantResolution(string? Tenant, IReadOnlyList<string> Notes);

/// <summary>
/// Finds a request's tenant from the sources of <see cref="RoutingTenantResolutionOptions"/>, in their order of
/// precedence: the custom resolver, the claim, the route value, the header. Immutable: a snapshot of validated options.
/// </summary>
internal sealed class RoutingTenantResolver
{
    private readonly string? header;
    private readonly string? claim;
    private readonly string? routeValue;
    private readonly Func<HttpContext, string?>? resolve;

    internal RoutingTenantResolver(RoutingTenantResolutionOptions options)
    {
        header = options.Header;
        claim = options.Claim;
        routeValue = options.RouteValue;
        resolve = options.Resolve;
        Expected = DescribeSources();
    }

    /// <summary>Where the tenant is expected, in precedence order, for the rejection's message.</summary>
    internal string Expected { get; }

    /// <summary>The route parameter read, or <see langword="null"/> when route values are not a source.</summary>
    internal string? RouteValue => routeValue;

    internal TenantResolution Resolve(HttpContext context)
    {
        List<string>? notes = null;

        if (resolve is not null)
        {
            var value = resolve(context);
            if (value is not null)
            {
                var trimmed = value.Trim();
                if (trimmed.Length > 0)
                {
                    return new TenantResolution(trimmed, []);
                }

                (notes ??= []).Add("The application's tenant resolver returned a blank value.");
            }
        }

        if (claim is not null)
        {
            var found = Collect(ClaimValues(context, claim), out var present);
            if (found.Tenant is not null)
            {
                return new TenantResolution(found.Tenant, []);
            }

            if (present)
            {
                (notes ??= []).Add(found.Several
                    ? $"The signed-in user has several different '{claim}' claims."
                    : $"The signed-in user's '{claim}' claim is blank.");
            }
        }

        if (routeValue is not null && context.Request.RouteValues.TryGetValue(routeValue, out var raw) && raw is not null)
        {
            var trimmed = (raw as string ?? Convert.ToString(raw, CultureInfo.InvariantCulture) ?? "").Trim();
            if (trimmed.Length > 0)
            {
                return new TenantResolution(trimmed, []);
            }

            (notes ??= []).Add($"The route value '{routeValue}' is blank.");
        }

        if (header is not null && context.Request.Headers.TryGetValue(header, out var headerValues))
        {
            var found = Collect(HeaderValues(headerValues), out _);
            if (found.Tenant is not null)
            {
                return new TenantResolution(found.Tenant, []);
            }

            (notes ??= []).Add(found.Several
                ? $"The '{header}' header has several different values."
                : $"The '{header}' header is blank.");
        }

        return new TenantResolution(null, (IReadOnlyList<string>?)notes ?? []);
    }

    /// <summary>The one non-blank value among <paramref name="values"/> (trimmed), or none: absent, blank, or several different.</summary>
    private static (string? Tenant, bool Several) Collect(IEnumerable<string?> values, out bool present)
    {
        present = false;
        string? single = null;
        foreach (var value in values)
        {
            present = true;
            var trimmed = value?.Trim();
            if (string.IsNullOrEmpty(trimmed))
            {
                continue;
            }

            if (single is null)
            {
                single = trimmed;
            }
            else if (!string.Equals(single, trimmed, StringComparison.Ordinal))
            {
                return (null, true);
            }
        }

        return (single, false);
    }

    private static IEnumerable<string?> ClaimValues(HttpContext context, string type)
    {
        foreach (var identity in context.User.Identities)
        {
            if (!identity.IsAuthenticated)
            {
                continue;
            }

            foreach (var found in identity.FindAll(type))
            {
                yield return found.Value;
            }
        }
    }

    /// <summary>Each header line, split at commas: a proxy may have joined two lines into one (RFC 9110, 5.3).</summary>
    private static IEnumerable<string?> HeaderValues(Microsoft.Extensions.Primitives.StringValues values)
    {
        foreach (var line in values)
        {
            if (line is null)
            {
                yield return null;
                continue;
            }

            foreach (var part in line.Split(','))
            {
                yield return part;
            }
        }
    }

    private string DescribeSources()
    {
        var sources = new List<string>(4);
        if (resolve is not null)
        {
            sources.Add("the application's tenant resolver");
        }

        if (claim is not null)
        {
            sources.Add($"the '{claim}' claim of the signed-in user");
        }

        if (routeValue is not null)
        {
            sources.Add($"the route value '{routeValue}'");
        }

        if (header is not null)
        {
            sources.Add($"the '{header}' header");
        }

        var text = new StringBuilder();
        for (var i = 0; i < sources.Count; i++)
        {
            text.Append(i == 0 ? "" : i == sources.Count - 1 ? " or " : ", ").Append(sources[i]);
        }

        return text.ToString();
    }
}
