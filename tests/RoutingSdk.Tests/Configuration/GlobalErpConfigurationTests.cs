using Npgsql;

namespace RoutingSdk.Tests.Configuration;

public sealed class GlobalErpConfigurationTests
{
    // The vendor's section 4.1 sample with its <host>/<port>/<dbname> placeholders filled in.
    internal const string VendorSample = """
        <databases>
        <database alias="erp" driver="org.postgresql.Driver" schema="PUBLIC"
        connectionType="proxyShared" authenticationType="btk"
        maxActiveThreadCount="1000"
        activeThreadTimeout="20">
        <users>
        <user name="username" password="password"/>
        </users>
        <extraConnectionPools>
        <!-- WritePool - мастер-база -->
        <pool name="WritePool" schema="PUBLIC"
        url="jdbc:postgresql://db-master:6434/erp"
        acceptPrimary="true"
        acceptSecondary="true"
        acceptTxSession="true"
        acceptNoTxSession="false"
        priority="1"
        minPoolSize="100"
        maxPoolSize="110"
        initialPoolSize="2"
        inactiveConnectionTimeout="30"
        poolTimeout="10"
        timeBetweenEvictionRunsMillis="5000"
        usageRatio="1" />
        <!-- ReadPool - внешний балансировщик между репликами -->
        <pool name="ReadPool" schema="PUBLIC"
        url="jdbc:postgresql://haproxy:6433/erp"
        acceptPrimary="true"
        acceptSecondary="true"
        acceptTxSession="false"
        acceptNoTxSession="true"
        priority="100"
        minPoolSize="100"
        maxPoolSize="110"
        initialPoolSize="2"
        inactiveConnectionTimeout="30"
        poolTimeout="2"
        timeBetweenEvictionRunsMillis="5000"
        usageRatio="1" />
        </extraConnectionPools>
        </database>
        </databases>
        """;

    [Fact]
    public void Vendor_sample_imports_to_a_write_pool_and_a_read_pool()
    {
        var result = GlobalErpConfiguration.Parse(VendorSample);
        Assert.Equal("erp", result.DatabaseAlias);
        Assert.Equal(2, result.Pools.Count);

        var write = result.Pools[0];
        Assert.Equal(("WritePool", PoolRole.Primary, true, false, 1, 1.0), (write.Name, write.Role, write.AcceptTxSession, write.AcceptNoTxSession, write.Priority, write.UsageRatio));
        Assert.Equal((100, 110, 10, 30, 5), (write.MinPoolSize, write.MaxPoolSize, write.PoolTimeoutSeconds, write.InactiveConnectionTimeoutSeconds, write.PruningIntervalSeconds));
        var writeCs = new NpgsqlConnectionStringBuilder(write.ConnectionString);
        Assert.Equal(("db-master", 6434, "erp", "username", "password"), (writeCs.Host, writeCs.Port, writeCs.Database, writeCs.Username, writeCs.Password));
        Assert.Null(writeCs.SearchPath);

        var read = result.Pools[1];
        Assert.Equal(("ReadPool", PoolRole.SyncReplica, false, true, 100, 2), (read.Name, read.Role, read.AcceptTxSession, read.AcceptNoTxSession, read.Priority, read.PoolTimeoutSeconds));
        Assert.Equal(("haproxy", 6433), (new NpgsqlConnectionStringBuilder(read.ConnectionString).Host, new NpgsqlConnectionStringBuilder(read.ConnectionString).Port));

        // initialPoolSize has no Npgsql equivalent: said, not silently dropped.
        Assert.Equal(2, result.Warnings.Count(w => w.Contains("initialPoolSize has no Npgsql equivalent", StringComparison.Ordinal)));
    }

    [Fact]
    public void Imported_pools_pass_validation_and_route_reads_to_the_read_pool()
    {
        var options = new RoutingOptions();
        options.Pools.AddRange(GlobalErpConfiguration.Parse(VendorSample).Pools);
        var topology = RoutingSdk.Routing.RoutingTopology.Build(options, new Pools.PoolHealthRegistry());
        var router = new RoutingSdk.Routing.QueryRouter(topology);
        Assert.Equal("ReadPool", router.Decide(RoutingSdk.Routing.RouteRequest.Read, null).PoolName);
        Assert.Equal("WritePool", router.Decide(RoutingSdk.Routing.RouteRequest.Write, null).PoolName);
    }

    [Fact]
    public void Unreplaced_placeholders_give_malformed_xml_with_line_and_hint()
    {
        var xml = VendorSample.Replace("db-master:6434/erp", "<host>:<port>/<dbname>");
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml, sourceName: "global3config.xml"));
        Assert.StartsWith("global3config.xml(12,", Assert.Single(ex.Problems));
        Assert.Contains("Placeholders such as <host> must be replaced", ex.Problems[0]);
    }

    [Theory]
    [InlineData("jdbc:postgresql://db-master:notaport/erp?user=erp&amp;password=S3cret-Pw")]
    [InlineData("jdbc:postgresql://db-master:6434?password=S3cret-Pw&amp;user=erp")]
    [InlineData("jdbc:oracle:thin:@db:1521:erp?password=S3cret-Pw")]
    public void Bad_url_error_never_echoes_the_password(string url)
    {
        var xml = VendorSample.Replace("jdbc:postgresql://db-master:6434/erp", url);
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml));
        var problem = Assert.Single(ex.Problems);
        Assert.Contains("WritePool", problem);
        Assert.DoesNotContain("S3cret-Pw", ex.Message);
        Assert.Contains("password=***", problem);
    }

    [Fact]
    public void A_dtd_is_refused_with_its_fix()
    {
        var xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE databases [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n" + VendorSample.Replace("schema=\"PUBLIC\"\nconnectionType", "schema=\"&b;\"\nconnectionType");
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml));
        Assert.Contains("has a DTD (<!DOCTYPE ...>), which RoutingSdk refuses", Assert.Single(ex.Problems));
        Assert.Contains("Remove the <!DOCTYPE> declaration", ex.Problems[0]);
    }

    [Fact]
    public void Missing_url_names_the_pool_and_line()
    {
        var xml = VendorSample.Replace("url=\"jdbc:postgresql://haproxy:6433/erp\"", "");
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml));
        Assert.Equal("global3config.xml(26): <pool name=\"ReadPool\"> has no url attribute; add url=\"jdbc:postgresql://host:port/database\".", Assert.Single(ex.Problems));
    }

    [Fact]
    public void Unknown_attribute_is_a_warning_with_its_line()
    {
        var xml = VendorSample.Replace("usageRatio=\"1\" />\n<!-- ReadPool", "usageRatio=\"1\" usageRatoi=\"3\" />\n<!-- ReadPool");
        var result = GlobalErpConfiguration.Parse(xml);
        Assert.Contains(result.Warnings, w => w.StartsWith("global3config.xml(", StringComparison.Ordinal) && w.Contains("attribute 'usageRatoi' is unknown", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_values_are_all_reported()
    {
        var xml = VendorSample.Replace("priority=\"100\"", "priority=\"high\"").Replace("acceptNoTxSession=\"false\"", "acceptNoTxSession=\"nope\"")
            .Replace("jdbc:postgresql://haproxy:6433/erp", "jdbc:oracle:thin:@h:1521:x");
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml));
        Assert.Contains(ex.Problems, p => p.Contains("acceptNoTxSession=\"nope\" is not true or false", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("is not a PostgreSQL JDBC URL", StringComparison.Ordinal));
    }

    [Fact]
    public void Several_databases_need_an_alias()
    {
        var xml = "<databases>" + VendorSample.Replace("<databases>", "").Replace("</databases>", "")
            + VendorSample.Replace("<databases>", "").Replace("</databases>", "").Replace("alias=\"erp\"", "alias=\"hr\"") + "</databases>";
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml));
        Assert.Contains("pass the alias to import (erp, hr)", ex.Problems[0]);
        Assert.Equal("hr", GlobalErpConfiguration.Parse(xml, "hr").DatabaseAlias);
        Assert.Contains("aliases present: erp, hr", Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml, "crm")).Problems[0]);
    }

    [Fact]
    public void Pool_accepting_nothing_needs_a_role()
    {
        var xml = VendorSample.Replace("acceptNoTxSession=\"true\"", "acceptNoTxSession=\"false\"");
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Parse(xml));
        Assert.Contains("role=\"asyncReplica\"", Assert.Single(ex.Problems));

        var asyncXml = xml.Replace("<pool name=\"ReadPool\"", "<pool name=\"ReadPool\" role=\"asyncReplica\"");
        Assert.Equal(PoolRole.AsyncReplica, GlobalErpConfiguration.Parse(asyncXml).Pools[1].Role);
    }

    [Fact]
    public void Jdbc_parameters_map_to_npgsql_keywords_and_unknown_ones_warn()
    {
        var xml = VendorSample.Replace("jdbc:postgresql://haproxy:6433/erp",
            "jdbc:postgresql://r1:5432,r2:5433/erp?sslmode=require&amp;ApplicationName=erp-app&amp;targetServerType=preferSecondary&amp;currentSchema=sales&amp;prepareThreshold=5");
        var result = GlobalErpConfiguration.Parse(xml);
        var csb = new NpgsqlConnectionStringBuilder(result.Pools[1].ConnectionString);
        Assert.Equal(("r1:5432,r2:5433", SslMode.Require, "erp-app", "prefer-standby", "sales"), (csb.Host, csb.SslMode, csb.ApplicationName, csb.TargetSessionAttributes, csb.SearchPath));
        Assert.Contains(result.Warnings, w => w.Contains("JDBC parameter 'prepareThreshold' has no Npgsql equivalent", StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_file_says_which()
    {
        var ex = Assert.Throws<RoutingConfigurationException>(() => GlobalErpConfiguration.Load("/nonexistent/global3config.xml"));
        Assert.Contains("'/nonexistent/global3config.xml' does not exist", ex.Message);
    }
}
