using System.Globalization;
using Npgsql;

namespace RoutingSdk;

/// <summary>Translates <c>jdbc:postgresql://host[:port][,host2[:port2]]/database[?key=value&amp;...]</c> into Npgsql settings.</summary>
internal static class JdbcUrl
{
    private const string Prefix = "jdbc:postgresql://";

    /// <summary>The URL with the value of every credential parameter (password, sslpassword, ...) replaced by ***: safe for messages and logs.</summary>
    public static string Redact(string url)
    {
        var q = url.IndexOf('?', StringComparison.Ordinal);
        if (q < 0)
        {
            return url;
        }

        var pairs = url[(q + 1)..].Split('&');
        for (var i = 0; i < pairs.Length; i++)
        {
            var eq = pairs[i].IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? pairs[i] : pairs[i][..eq];
            if (eq >= 0 && Uri.UnescapeDataString(key).Contains("password", StringComparison.OrdinalIgnoreCase))
            {
                pairs[i] = key + "=***";
            }
        }

        return url[..(q + 1)] + string.Join('&', pairs);
    }

    public static bool TryApply(string url, NpgsqlConnectionStringBuilder csb, out string problem, List<string> warnings, string where)
    {
        problem = "";
        if (!url.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            problem = "is not a PostgreSQL JDBC URL; expected jdbc:postgresql://host:port/database.";
            return false;
        }

        var rest = url[Prefix.Length..];
        var query = "";
        var q = rest.IndexOf('?', StringComparison.Ordinal);
        if (q >= 0)
        {
            query = rest[(q + 1)..];
            rest = rest[..q];
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == rest.Length - 1)
        {
            problem = "lacks a host or a database name; expected jdbc:postgresql://host:port/database.";
            return false;
        }

        var hosts = rest[..slash].Split(',', StringSplitOptions.TrimEntries);
        var database = Uri.UnescapeDataString(rest[(slash + 1)..]);
        var hostParts = new List<string>();
        foreach (var host in hosts)
        {
            var colon = host.LastIndexOf(':');
            if (host.Length == 0 || colon == 0)
            {
                problem = $"has an empty host in '{rest[..slash]}'.";
                return false;
            }

            if (colon > 0 && !int.TryParse(host[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            {
                problem = $"has an invalid port in '{host}'.";
                return false;
            }

            hostParts.Add(host);
        }

        if (hostParts.Count == 1 && hostParts[0].LastIndexOf(':') is var c && c > 0)
        {
            csb.Host = hostParts[0][..c];
            csb.Port = int.Parse(hostParts[0][(c + 1)..], CultureInfo.InvariantCulture);
        }
        else
        {
            csb.Host = string.Join(',', hostParts);
        }

        csb.Database = database;
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (!ApplyParameter(csb, key, value))
            {
                warnings.Add($"{where}: JDBC parameter '{key}' has no Npgsql equivalent and was ignored.");
            }
        }

        return true;
    }

    private static bool ApplyParameter(NpgsqlConnectionStringBuilder csb, string key, string value)
    {
        switch (key.ToLowerInvariant())
        {
            case "user":
                csb.Username = value;
                return true;
            case "password":
                csb.Password = value;
                return true;
            case "ssl":
                if (bool.TryParse(value, out var ssl) && ssl)
                {
                    csb.SslMode = SslMode.Require;
                }

                return true;
            case "sslmode":
                csb.SslMode = value.ToLowerInvariant() switch
                {
                    "disable" => SslMode.Disable,
                    "allow" => SslMode.Allow,
                    "prefer" => SslMode.Prefer,
                    "require" => SslMode.Require,
                    "verify-ca" => SslMode.VerifyCA,
                    "verify-full" => SslMode.VerifyFull,
                    _ => csb.SslMode,
                };
                return true;
            case "applicationname":
                csb.ApplicationName = value;
                return true;
            case "connecttimeout":
                if (int.TryParse(value, CultureInfo.InvariantCulture, out var connectTimeout))
                {
                    csb.Timeout = connectTimeout;
                }

                return true;
            case "sockettimeout":
                if (int.TryParse(value, CultureInfo.InvariantCulture, out var socketTimeout))
                {
                    csb.CommandTimeout = socketTimeout;
                }

                return true;
            case "currentschema":
                csb.SearchPath = value;
                return true;
            case "tcpkeepalive":
                if (bool.TryParse(value, out var keepAlive))
                {
                    csb.TcpKeepAlive = keepAlive;
                }

                return true;
            case "loadbalancehosts":
                if (bool.TryParse(value, out var loadBalance))
                {
                    csb.LoadBalanceHosts = loadBalance;
                }

                return true;
            case "targetservertype":
                var attributes = value.ToLowerInvariant() switch
                {
                    "any" => "any",
                    "primary" or "master" => "primary",
                    "secondary" or "standby" => "standby",
                    "prefersecondary" or "preferstandby" => "prefer-standby",
                    "preferprimary" => "prefer-primary",
                    _ => null,
                };
                if (attributes is null)
                {
                    return false;
                }

                csb.TargetSessionAttributes = attributes;
                return true;
            default:
                return false;
        }
    }
}
