using Npgsql;

// Prints which node answers through each endpoint of the local topology (scripts/cluster.sh env).
var endpoints = new[] { "PRIMARY", "SYNC1", "SYNC2", "ASYNC1", "WRITE_VIP", "READ_VIP" };
var missing = endpoints.Where(e => string.IsNullOrEmpty(Environment.GetEnvironmentVariable(e))).ToList();
if (missing.Count > 0)
{
    Console.Error.WriteLine($"Set {string.Join(", ", missing)} (run it through scripts/demo.sh, which exports them from scripts/cluster.sh env).");
    return 2;
}

Console.WriteLine($"{"endpoint",-10} {"answered by",-12} in recovery");
foreach (var endpoint in endpoints)
{
    var csb = new NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable(endpoint)) { Pooling = false };
    await using var conn = new NpgsqlConnection(csb.ConnectionString);
    await conn.OpenAsync();
    await using var cmd = new NpgsqlCommand("SELECT current_setting('cluster_name'), pg_is_in_recovery()", conn);
    await using var reader = await cmd.ExecuteReaderAsync();
    await reader.ReadAsync();
    Console.WriteLine($"{endpoint,-10} {reader.GetString(0),-12} {reader.GetBoolean(1)}");
}

return 0;
