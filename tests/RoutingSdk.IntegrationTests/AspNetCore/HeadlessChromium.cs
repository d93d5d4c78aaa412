using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RoutingSdk.IntegrationTests.AspNetCore;

/// <summary>
/// A real headless Chromium (Debian's <c>chromium</c>, installed by scripts/test.sh) driven over the DevTools protocol:
/// navigate, evaluate script in the page, take a screenshot. No WebDriver package needed.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ClientWebSocket _socket = new();
    private readonly string _profile;
    private int _nextId;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    public static string? FindExecutable() =>
        new[] { Environment.GetEnvironmentVariable("ROUTING_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }
            .FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));

    public static async Task<HeadlessChromium> StartAsync()
    {
        var executable = FindExecutable() ?? throw new InvalidOperationException(
            "Chromium is not installed: scripts/test.sh installs Debian's 'chromium' package (apt-get install -y chromium), or set ROUTING_CHROMIUM to a Chrome/Chromium binary.");
        var profile = Directory.CreateTempSubdirectory("routing-chromium-").FullName;
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                     "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1400,1000", $"--user-data-dir={profile}", "about:blank",
                 })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        var browser = new HeadlessChromium(process, profile);
        try
        {
            // Chromium prints "DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>" on stderr.
            var port = await Task.Run(() =>
            {
                string? line;
                while ((line = process.StandardError.ReadLine()) is not null)
                {
                    var at = line.IndexOf("ws://127.0.0.1:", StringComparison.Ordinal);
                    if (at >= 0)
                    {
                        var rest = line[(at + "ws://127.0.0.1:".Length)..];
                        return int.Parse(rest[..rest.IndexOf('/')], System.Globalization.CultureInfo.InvariantCulture);
                    }
                }

                throw new InvalidOperationException("Chromium exited before it opened its DevTools port.");
            }).WaitAsync(TimeSpan.FromSeconds(30));
            _ = Task.Run(() => process.StandardError.ReadToEnd()); // keep draining

            using var http = new HttpClient();
            var targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list"))!.AsArray();
            var page = targets.First(t => (string?)t!["type"] == "page")!;
            await browser._socket.ConnectAsync(new Uri((string)page["webSocketDebuggerUrl"]!), CancellationToken.None);
            await browser.SendAsync("Page.enable");
            await browser.SendAsync("Runtime.enable");
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    public async Task<JsonNode?> SendAsync(string method, object? parameters = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var message = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        await _socket.SendAsync(message, WebSocketMessageType.Text, true, CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var node = await ReceiveAsync(timeout.Token);
            if (node?["id"] is { } got && (int)got == id)
            {
                if (node["error"] is { } error)
                {
                    throw new InvalidOperationException($"DevTools {method} failed: {error.ToJsonString()}");
                }

                return node["result"];
            }
        }
    }

    private async Task<JsonNode?> ReceiveAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await _socket.ReceiveAsync(buffer, cancellationToken);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);
        return JsonNode.Parse(Encoding.UTF8.GetString(message.ToArray()));
    }

    public Task NavigateAsync(string url) => SendAsync("Page.navigate", new { url });

    /// <summary>Evaluates a script expression in the page and returns its value (awaiting promises).</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true });
        if (result?["exceptionDetails"] is { } exception)
        {
            throw new InvalidOperationException($"Script failed in the page: {exception.ToJsonString()}");
        }

        return result?["result"]?["value"];
    }

    /// <summary>Polls an expression until it is truthy.</summary>
    public async Task<JsonNode?> WaitForAsync(string expression, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            JsonNode? value = null;
            try
            {
                value = await EvaluateAsync(expression);
            }
            catch (InvalidOperationException) when (DateTime.UtcNow < deadline)
            {
                // page still loading
            }

            if (value is not null && !(value.GetValueKind() is JsonValueKind.False or JsonValueKind.Null) && value.ToJsonString() is not ("0" or "\"\""))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The page never satisfied: {expression}");
            }

            await Task.Delay(200);
        }
    }

    public async Task<byte[]> ScreenshotAsync()
    {
        var result = await SendAsync("Page.captureScreenshot", new { format = "png", captureBeyondViewport = true });
        return Convert.FromBase64String((string)result!["data"]!);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Dispose();
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_profile, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
