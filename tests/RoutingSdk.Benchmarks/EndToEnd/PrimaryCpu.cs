using System.Globalization;

namespace RoutingSdk.Benchmarks.EndToEnd;

/// <summary>
/// CPU time used by the primary, read from /proc: the postmaster's own time, the time of the backends it has reaped
/// (its cutime/cstime), and the time of every live child (backends, walsenders, background workers). Not our own counters.
/// </summary>
public sealed class PrimaryCpu(int postmasterPid, int clockTicksPerSecond)
{
    public static PrimaryCpu? FromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("ROUTING_PRIMARY_PID"), out var pid) && File.Exists($"/proc/{pid}/stat")
            ? new PrimaryCpu(pid, int.TryParse(Environment.GetEnvironmentVariable("ROUTING_CLK_TCK"), out var hz) && hz > 0 ? hz : 100)
            : null;

    public int PostmasterPid => postmasterPid;

    public double TotalMilliseconds()
    {
        long ticks = 0;
        if (Stat(postmasterPid) is { } own)
        {
            ticks += own.Utime + own.Stime + own.Cutime + own.Cstime;
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != postmasterPid && Stat(pid) is { } s && s.Ppid == postmasterPid)
            {
                ticks += s.Utime + s.Stime + s.Cutime + s.Cstime;
            }
        }

        return ticks * 1000.0 / clockTicksPerSecond;
    }

    private static (int Ppid, long Utime, long Stime, long Cutime, long Cstime)? Stat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null; // exited while we looked; its time is in the postmaster's cutime once reaped
        }

        // Fields after the command name (which may hold spaces) start at field 3 (state).
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        long F(int n) => long.Parse(fields[n - 3], CultureInfo.InvariantCulture);
        return ((int)F(4), F(14), F(15), F(16), F(17));
    }
}
