using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace RoutingSdk.Testing;

/// <summary>Runs the project's cluster scripts (embedded in this package, so the fixture and the scripts never drift apart).</summary>
internal static class ClusterScript
{
    internal readonly record struct Result(int ExitCode, string StdOut, string StdErr);

    /// <summary>The shell library the cluster scripts source (<c>lib/ports.sh</c> beside them).</summary>
    private const string Library = "RoutingSdk.Testing.lib.ports.sh";

    /// <summary>
    /// Writes an embedded script, with the library it sources in <c>lib/</c> beside it, to a content-addressed temp
    /// directory once and returns the script's path.
    /// </summary>
    public static string Extract(string resourceName, string filePrefix)
    {
        var script = Read(resourceName);
        var library = Read(Library);
        var hash = Convert.ToHexString(SHA256.HashData([.. script, .. library]))[..16].ToLowerInvariant();
        var dir = Path.Combine(Path.GetTempPath(), $"{filePrefix}-scripts-{hash}");
        var path = Path.Combine(dir, filePrefix + ".sh");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.Combine(dir, "lib"));
            Write(Path.Combine(dir, "lib", "ports.sh"), library);
            Write(path, script); // last: its presence means the directory is complete
        }

        return path;

        static void Write(string target, byte[] bytes)
        {
            var tmp = target + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, target, overwrite: true);
        }
    }

    private static byte[] Read(string resourceName)
    {
        using var stream = typeof(ClusterScript).Assembly.GetManifestResourceStream(resourceName)
            ?? throw new LocalPgClusterException($"The embedded script {resourceName} is missing from RoutingSdk.Testing; the package is damaged.");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    public static async Task<Result> RunAsync(
        string script, IReadOnlyDictionary<string, string> environment, string[] args, TimeSpan timeout, CancellationToken cancellationToken, bool throwOnError = true)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }

        var name = Path.GetFileName(script);
        using var process = Process.Start(psi) ?? throw new LocalPgClusterException("Could not start bash to run the cluster script; is bash installed?");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutCts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutCts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new LocalPgClusterException($"{name} {string.Join(' ', args)} did not finish within {timeout}.");
        }

        var result = new Result(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
        if (throwOnError && result.ExitCode != 0)
        {
            var message = new StringBuilder()
                .Append(CultureInfo.InvariantCulture, $"{name} {string.Join(' ', args)} failed with exit code {result.ExitCode}:")
                .AppendLine().Append(result.StdErr.Trim());
            throw new LocalPgClusterException(message.ToString());
        }

        return result;
    }

    /// <summary>KEY=value lines of a script's 'env' command, keys lower-cased.</summary>
    public static Dictionary<string, string> ParseEnv(string output)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                map[line[..eq].ToLowerInvariant()] = line[(eq + 1)..];
            }
        }

        return map;
    }
}
