using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers.Tests;

public sealed class QR0011TenantlessBackgroundWorkTests
{
    /// <summary>Somewhere else in the application a request or job begins a tenant scope: the application uses tenants.</summary>
    private const string UsesTenants = """

        public class TenantMiddleware
        {
            public void Handle(string tenant) { using (TenantScope.Begin(tenant)) { } }
        }
        """;

    public static TheoryData<string> Positive => new()
    {
        // BackgroundService.ExecuteAsync: every piece of database work is reported.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                var due = await [|db.Orders|].Where(o => o.Qty > 0).ToListAsync(stoppingToken);
                await [|db.SaveChangesAsync(stoppingToken)|];
            }
        }
        """,
        // A Task.Run lambda started by a hosted service: nothing to carry.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => [|db.Orders|].Count(), stoppingToken);
        }
        """,
        // Task.Factory.StartNew, Parallel.ForEachAsync, a lambda handed to any other call.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                await Task.Factory.StartNew(() => [|db.SaveChanges()|]);
                await Parallel.ForEachAsync(new[] { 1, 2 }, async (id, ct) => await [|db.Orders|].FindAsync(id));
                Func<int> count = () => [|db.Orders|].Count();
            }
        }
        """,
        // IHostedService.StartAsync (implicit) and StopAsync (explicit), a Timer callback started there.
        """
        public class Cleanup(Db db) : Microsoft.Extensions.Hosting.IHostedService
        {
            private Timer? _timer;

            public Task StartAsync(CancellationToken cancellationToken)
            {
                _timer = new Timer(_ => [|db.SaveChanges()|], null, 0, 60_000);
                return [|db.Database|].EnsureCreatedAsync(cancellationToken);
            }

            Task Microsoft.Extensions.Hosting.IHostedService.StopAsync(CancellationToken cancellationToken) => [|db.SaveChangesAsync(cancellationToken)|];
        }
        """,
        // IHostedLifecycleService's StartingAsync.
        """
        public class Seeder(Db db) : Microsoft.Extensions.Hosting.IHostedLifecycleService
        {
            public Task StartingAsync(CancellationToken cancellationToken) => [|db.Database|].MigrateAsync(cancellationToken);
            public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
            public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
            public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
            public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
            public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """,
        // A BackgroundService's StartAsync override; RoutingDataSource (ADO.NET, Dapper).
        """
        public class Warmup(RoutingDataSource source) : Microsoft.Extensions.Hosting.BackgroundService
        {
            public override async Task StartAsync(CancellationToken cancellationToken)
            {
                await using var connection = await [|source.OpenConnectionAsync(cancellationToken)|];
                await base.StartAsync(cancellationToken);
            }

            protected override Task ExecuteAsync(CancellationToken stoppingToken) => [|source.ReadAsync((c, ct) => Task.FromResult(1), stoppingToken)|];
        }
        """,
        // Before the scope, in its resource expression, after it ended.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                using (TenantScope.Begin([|db.Orders|].First().Id.ToString()))
                {
                    await db.SaveChangesAsync(stoppingToken);
                }

                [|db.SaveChanges()|];
            }
        }
        """,
        // UnsafeQueueUserWorkItem does not carry the caller's tenant: reported anywhere, even inside a scope.
        """
        public class Service(Db db)
        {
            public void Post()
            {
                using (TenantScope.Begin("acme"))
                {
                    ThreadPool.UnsafeQueueUserWorkItem(_ => [|db.SaveChanges()|], null);
                }
            }
        }
        """,
    };

    public static TheoryData<string> Negative => new()
    {
        // Inside using (TenantScope.Begin(..)), once per tenant.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                foreach (var tenant in new[] { "acme", "globex" })
                {
                    using (TenantScope.Begin(tenant))
                    {
                        await db.Orders.CountAsync(stoppingToken);
                        await db.SaveChangesAsync(stoppingToken);
                    }
                }
            }
        }
        """,
        // After using var, also in nested blocks; the try/finally form.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                using var tenant = TenantScope.Begin("acme");
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (await db.Orders.AnyAsync(stoppingToken)) { await db.SaveChangesAsync(stoppingToken); }
                }
            }

            public override Task StopAsync(CancellationToken cancellationToken)
            {
                var scope = TenantScope.Begin("acme");
                try { return db.SaveChangesAsync(cancellationToken); }
                finally { scope.Dispose(); }
            }
        }
        """,
        // using (var x = TenantScope.Begin(..)); a scope begun in an enclosing lambda.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                using (var tenant = TenantScope.Begin("acme")) { await db.SaveChangesAsync(stoppingToken); }
                await Task.Run(async () =>
                {
                    using var tenant = TenantScope.Begin("globex");
                    var ids = new[] { 1 }.Where(id => db.Orders.Any(o => o.Id == id)).ToList();
                    await db.SaveChangesAsync();
                });
            }
        }
        """,
        // Task.Run, Parallel and Timer carry the tenant of the code that starts them; a scope inside the lambda.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                using (TenantScope.Begin("acme"))
                {
                    await Task.Run(() => db.Orders.Count());
                    Parallel.For(0, 2, i => db.SaveChanges());
                    using var timer = new Timer(_ => db.SaveChanges(), null, 0, 1000);
                }

                await Task.Run(() => { using (TenantScope.Begin("globex")) { db.SaveChanges(); } });
            }
        }
        """,
        // Ordinary code gets its tenant from its caller (a request's middleware), Task.Run and QueueUserWorkItem carry it.
        """
        public class OrdersController(Db db)
        {
            public Task<int> Count() => db.Orders.CountAsync();
            public void Refresh() { Task.Run(() => db.SaveChanges()); ThreadPool.QueueUserWorkItem(_ => db.SaveChanges()); }
            public Task ExecuteAsync(CancellationToken ct) => db.SaveChangesAsync(ct);
        }
        """,
        // No database work; context members that never reach the database; local functions are out of reach.
        """
        public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
        {
            protected override async Task ExecuteAsync(CancellationToken stoppingToken)
            {
                await Task.Delay(1000, stoppingToken);
                db.ChangeTracker.Clear();
                Console.WriteLine(db.ToString());
                await db.DisposeAsync();
                await Work();

                Task Work() => db.SaveChangesAsync(stoppingToken);
            }
        }
        """,
    };

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Database_work_without_a_tenant_in_background_code_is_reported(string markup) =>
        AnalyzerHarness.VerifyAsync(markup + UsesTenants, new TenantlessBackgroundWorkAnalyzer(), "QR0011");

    [Theory]
    [MemberData(nameof(Negative))]
    public Task Work_with_a_tenant_or_outside_background_code_is_not_reported(string markup) =>
        AnalyzerHarness.VerifyAsync(markup + UsesTenants, new TenantlessBackgroundWorkAnalyzer(), "QR0011");

    [Theory]
    [MemberData(nameof(Positive))]
    public Task Applications_that_never_begin_a_tenant_scope_are_not_reported(string markup)
    {
        // Single-cluster applications: the same code, with every TenantScope.Begin call and marker taken out.
        var withoutTenants = markup.Replace("[|", "").Replace("|]", "");
        withoutTenants = System.Text.RegularExpressions.Regex.Replace(withoutTenants, @"using \(TenantScope\.Begin\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\)", "if (true)");
        Assert.DoesNotContain("TenantScope.Begin", withoutTenants);
        return AnalyzerHarness.VerifyAsync(withoutTenants, new TenantlessBackgroundWorkAnalyzer(), "QR0011");
    }

    [Fact]
    public async Task A_tenant_scope_begun_in_another_file_turns_the_rule_on()
    {
        var worker = """
            public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
            {
                protected override Task ExecuteAsync(CancellationToken stoppingToken) => db.SaveChangesAsync(stoppingToken);
            }
            """;
        var (source, _) = AnalyzerHarness.Parse(worker);
        var compilation = AnalyzerHarness.Compile(source);
        var analyzer = new TenantlessBackgroundWorkAnalyzer();
        Assert.Empty(await compilation.WithAnalyzers([analyzer]).GetAnalyzerDiagnosticsAsync());

        var middleware = CSharpSyntaxTree.ParseText(
            "namespace Web; public class TenantMiddleware { public void Handle(string t) { using var scope = global::RoutingSdk.TenantScope.Begin(t); } }",
            new CSharpParseOptions(LanguageVersion.Latest), path: "Middleware.cs");
        var diagnostics = await compilation.AddSyntaxTrees(middleware).WithAnalyzers([analyzer]).GetAnalyzerDiagnosticsAsync();
        Assert.Equal("QR0011", Assert.Single(diagnostics).Id);
    }

    [Fact]
    public async Task Message_names_the_work_where_it_runs_and_the_fix()
    {
        var (source, _) = AnalyzerHarness.Parse("""
            public class Reminders(Db db) : Microsoft.Extensions.Hosting.BackgroundService
            {
                protected override async Task ExecuteAsync(CancellationToken stoppingToken)
                {
                    await db.SaveChangesAsync(stoppingToken);
                    await Task.Run(() => db.Orders.Count());
                    ThreadPool.UnsafeQueueUserWorkItem(_ => db.SaveChanges(), null);
                }
            }
            """ + UsesTenants);
        var diagnostics = await AnalyzerHarness.AnalyzeAsync(source, new TenantlessBackgroundWorkAnalyzer());
        var messages = diagnostics.OrderBy(d => d.Location.SourceSpan.Start).Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(
            [
                "'SaveChangesAsync' runs in background code (Reminders.ExecuteAsync of a BackgroundService) without a tenant scope: with several clusters its statements have no tenant and fail. Wrap the work in using (TenantScope.Begin(tenant)) { ... }, once per tenant.",
                "'Orders' runs in background code (Task.Run in Reminders.ExecuteAsync of a BackgroundService) without a tenant scope: with several clusters its statements have no tenant and fail. Wrap the work in using (TenantScope.Begin(tenant)) { ... }, once per tenant.",
                "'SaveChanges' runs in background code (ThreadPool.UnsafeQueueUserWorkItem, which does not carry the caller's tenant) without a tenant scope: with several clusters its statements have no tenant and fail. Wrap the work in using (TenantScope.Begin(tenant)) { ... }, once per tenant.",
            ],
            messages);
        Assert.All(diagnostics, d => Assert.Equal(DiagnosticSeverity.Warning, d.Severity));
    }
}
