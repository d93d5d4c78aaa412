using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Npgsql;

namespace RoutingSdk;

/// <summary>What an import of a Global ERP <c>global3config.xml</c> produced.</summary>
public sealed class GlobalErpImportResult
{
    internal GlobalErpImportResult(string databaseAlias, IReadOnlyList<RoutingPoolOptions> pools, IReadOnlyList<string> warnings)
    {
        DatabaseAlias = databaseAlias;
        Pools = pools;
        Warnings = warnings;
    }

    /// <summary>The <c>database</c> element's alias the pools came from.</summary>
    public string DatabaseAlias { get; }

    /// <summary>One pool per <c>extraConnectionPools/pool</c>.</summary>
    public IReadOnlyList<RoutingPoolOptions> Pools { get; }

    /// <summary>Things that were accepted but not mapped one to one (each names the element, the line and what happened).</summary>
    public IReadOnlyList<string> Warnings { get; }
}

/// <summary>
/// Imports the vendor's <c>&lt;databases&gt;&lt;database&gt;&lt;extraConnectionPools&gt;</c> configuration
/// (Global ERP read-pool document, section 4.1) into <see cref="RoutingPoolOptions"/>.
/// </summary>
public static class GlobalErpConfiguration
{
    private static readonly HashSet<string> KnownPoolAttributes = new(StringComparer.Ordinal)
    {
        "name", "url", "schema", "acceptPrimary", "acceptSecondary", "acceptTxSession", "acceptNoTxSession", "priority",
        "minPoolSize", "maxPoolSize", "initialPoolSize", "inactiveConnectionTimeout", "poolTimeout",
        "timeBetweenEvictionRunsMillis", "usageRatio", "role",
    };

    /// <summary>Reads and imports a <c>global3config.xml</c> file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="databaseAlias">The <c>database</c> alias to import; optional when the file has one database.</param>
    /// <exception cref="RoutingConfigurationException">The file is missing, malformed or has invalid pools; every problem is listed with its line.</exception>
    public static GlobalErpImportResult Load(string path, string? databaseAlias = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new RoutingConfigurationException([$"global3config file '{path}' does not exist; pass the path of the Global ERP configuration (global3config.xml)."]);
        }

        return Parse(File.ReadAllText(path), databaseAlias, path);
    }

    /// <summary>Imports the XML text of a <c>global3config.xml</c>.</summary>
    /// <exception cref="RoutingConfigurationException">The XML is malformed or has invalid pools; every problem is listed with its line.</exception>
    public static GlobalErpImportResult Parse(string xml, string? databaseAlias = null, string sourceName = "global3config.xml")
    {
        ArgumentNullException.ThrowIfNull(xml);
        XDocument document;
        try
        {
            // No DTDs: a <!DOCTYPE> could expand entities without bound or reach outside the file; a configuration never needs one.
            var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
            using var reader = XmlReader.Create(new StringReader(xml), settings);
            document = XDocument.Load(reader, LoadOptions.SetLineInfo);
        }
        catch (XmlException ex) when (xml.Contains("<!DOCTYPE", StringComparison.OrdinalIgnoreCase) && ex.Message.Contains("DTD", StringComparison.Ordinal))
        {
            throw new RoutingConfigurationException(
                [$"{sourceName}({ex.LineNumber},{ex.LinePosition}): the file has a DTD (<!DOCTYPE ...>), which RoutingSdk refuses: DTDs can expand entities without bound or read other files. Remove the <!DOCTYPE> declaration; global3config.xml needs none."]);
        }
        catch (XmlException ex)
        {
            throw new RoutingConfigurationException(
                [$"{sourceName}({ex.LineNumber},{ex.LinePosition}): malformed XML: {ex.Message} Placeholders such as <host> must be replaced by real values (a '<' inside an attribute is not valid XML)."]);
        }

        var errors = new List<string>();
        var warnings = new List<string>();
        string At(XObject node) => node is IXmlLineInfo info && info.HasLineInfo() ? $"{sourceName}({info.LineNumber})" : sourceName;

        var databases = document.Descendants("database").ToList();
        if (databases.Count == 0)
        {
            throw new RoutingConfigurationException([$"{sourceName}: no <databases><database> element; the read-pool configuration lives in <databases><database><extraConnectionPools>."]);
        }

        XElement database;
        if (databaseAlias is not null)
        {
            database = databases.FirstOrDefault(d => (string?)d.Attribute("alias") == databaseAlias)
                ?? throw new RoutingConfigurationException([$"{sourceName}: no <database alias=\"{databaseAlias}\">; aliases present: {string.Join(", ", databases.Select(d => (string?)d.Attribute("alias") ?? "(none)"))}."]);
        }
        else if (databases.Count == 1)
        {
            database = databases[0];
        }
        else
        {
            throw new RoutingConfigurationException([$"{sourceName}: {databases.Count} <database> elements; pass the alias to import ({string.Join(", ", databases.Select(d => (string?)d.Attribute("alias") ?? "(none)"))})."]);
        }

        var alias = (string?)database.Attribute("alias") ?? "";
        var driver = (string?)database.Attribute("driver");
        if (driver is not null && driver != "org.postgresql.Driver")
        {
            errors.Add($"{At(database)}: <database alias=\"{alias}\"> uses driver '{driver}'; RoutingSdk routes PostgreSQL only (org.postgresql.Driver).");
        }

        var users = database.Element("users")?.Elements("user").ToList() ?? [];
        var user = users.FirstOrDefault();
        if (users.Count > 1)
        {
            warnings.Add($"{At(users[1])}: <users> lists {users.Count} users; the first ('{(string?)user!.Attribute("name")}') is used for every pool.");
        }

        var poolsElement = database.Element("extraConnectionPools");
        var poolElements = poolsElement?.Elements("pool").ToList() ?? [];
        if (poolElements.Count == 0)
        {
            errors.Add($"{At(database)}: <database alias=\"{alias}\"> has no <extraConnectionPools><pool> elements; add a WritePool and a ReadPool (vendor document, section 4.1).");
        }

        foreach (var unknown in poolsElement?.Elements().Where(e => e.Name != "pool") ?? [])
        {
            warnings.Add($"{At(unknown)}: unknown element <{unknown.Name}> inside <extraConnectionPools> ignored.");
        }

        var pools = new List<RoutingPoolOptions>();
        foreach (var element in poolElements)
        {
            var pool = ParsePool(element, user, At, errors, warnings);
            if (pool is not null)
            {
                pools.Add(pool);
            }
        }

        if (errors.Count > 0)
        {
            throw new RoutingConfigurationException(errors);
        }

        return new GlobalErpImportResult(alias, pools, warnings);
    }

    private static RoutingPoolOptions? ParsePool(XElement element, XElement? user, Func<XObject, string> at, List<string> errors, List<string> warnings)
    {
        var name = (string?)element.Attribute("name");
        var where = $"{at(element)}: <pool name=\"{name}\">";
        if (string.IsNullOrWhiteSpace(name))
        {
            errors.Add($"{at(element)}: <pool> has no name attribute; add name=\"WritePool\" or similar.");
            return null;
        }

        foreach (var attribute in element.Attributes())
        {
            if (!KnownPoolAttributes.Contains(attribute.Name.LocalName))
            {
                warnings.Add($"{at(attribute)}: <pool name=\"{name}\"> attribute '{attribute.Name.LocalName}' is unknown and was ignored; check its spelling.");
            }
        }

        var url = (string?)element.Attribute("url");
        if (string.IsNullOrWhiteSpace(url))
        {
            errors.Add($"{where} has no url attribute; add url=\"jdbc:postgresql://host:port/database\".");
            return null;
        }

        var csb = new NpgsqlConnectionStringBuilder();
        if (!JdbcUrl.TryApply(url, csb, out var urlProblem, warnings, where))
        {
            errors.Add($"{where}: url '{JdbcUrl.Redact(url)}' {urlProblem}");
            return null;
        }

        if (user is not null)
        {
            csb.Username ??= (string?)user.Attribute("name");
            csb.Password ??= (string?)user.Attribute("password");
        }

        var schema = (string?)element.Attribute("schema");
        if (!string.IsNullOrWhiteSpace(schema) && !string.Equals(schema, "public", StringComparison.OrdinalIgnoreCase) && csb.SearchPath is null)
        {
            // Unquoted identifiers fold to lower case in PostgreSQL.
            csb.SearchPath = schema.ToLowerInvariant();
        }

        var acceptTx = ParseBool(element, "acceptTxSession", where, errors);
        var acceptNoTx = ParseBool(element, "acceptNoTxSession", where, errors);
        var roleText = (string?)element.Attribute("role");
        PoolRole role;
        if (roleText is not null)
        {
            if (!Enum.TryParse(roleText, ignoreCase: true, out role) || !Enum.IsDefined(role))
            {
                errors.Add($"{where}: role '{roleText}' is not one of primary, syncReplica, asyncReplica.");
                return null;
            }
        }
        else
        {
            switch (acceptTx ?? false, acceptNoTx ?? false)
            {
                case (true, _):
                    role = PoolRole.Primary;
                    break;
                case (false, true):
                    role = PoolRole.SyncReplica;
                    break;
                default:
                    errors.Add($"{where} accepts neither transactions nor reads outside them, so nothing would use it. Set acceptTxSession=\"true\" (master) or acceptNoTxSession=\"true\" (read pool), or role=\"asyncReplica\" for an asynchronous replica used only by [AsyncReplica] operations.");
                    return null;
            }
        }

        var pool = new RoutingPoolOptions
        {
            Name = name,
            Role = role,
            AcceptTxSession = acceptTx,
            AcceptNoTxSession = acceptNoTx,
            Priority = ParseInt(element, "priority", where, errors) ?? 0,
            UsageRatio = ParseDouble(element, "usageRatio", where, errors) ?? 1,
            MinPoolSize = ParseInt(element, "minPoolSize", where, errors),
            MaxPoolSize = ParseInt(element, "maxPoolSize", where, errors),
            PoolTimeoutSeconds = ParseInt(element, "poolTimeout", where, errors),
            InactiveConnectionTimeoutSeconds = ParseInt(element, "inactiveConnectionTimeout", where, errors),
        };

        if (ParseInt(element, "timeBetweenEvictionRunsMillis", where, errors) is int evictionMillis)
        {
            pool.PruningIntervalSeconds = Math.Max(1, (evictionMillis + 999) / 1000);
        }

        if (element.Attribute("initialPoolSize") is { } initial)
        {
            warnings.Add($"{at(initial)}: <pool name=\"{name}\"> initialPoolSize has no Npgsql equivalent: connections open on demand and minPoolSize ({pool.MinPoolSize?.ToString(CultureInfo.InvariantCulture) ?? "0"}) idle ones are kept.");
        }

        pool.ConnectionString = csb.ConnectionString;
        return pool;
    }

    private static bool? ParseBool(XElement element, string attribute, string where, List<string> errors)
    {
        var text = (string?)element.Attribute(attribute);
        if (text is null)
        {
            return null;
        }

        if (bool.TryParse(text, out var value))
        {
            return value;
        }

        errors.Add($"{where}: {attribute}=\"{text}\" is not true or false.");
        return null;
    }

    private static int? ParseInt(XElement element, string attribute, string where, List<string> errors)
    {
        var text = (string?)element.Attribute(attribute);
        if (text is null)
        {
            return null;
        }

        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        errors.Add($"{where}: {attribute}=\"{text}\" is not a whole number.");
        return null;
    }

    private static double? ParseDouble(XElement element, string attribute, string where, List<string> errors)
    {
        var text = (string?)element.Attribute(attribute);
        if (text is null)
        {
            return null;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        errors.Add($"{where}: {attribute}=\"{text}\" is not a number.");
        return null;
    }
}
