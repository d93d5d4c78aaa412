namespace RoutingSdk;

/// <summary>Base of every exception RoutingSdk throws.</summary>
public class RoutingException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RoutingException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public RoutingException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The routing configuration is invalid; <see cref="Problems"/> lists every problem, each with its fix.</summary>
public sealed class RoutingConfigurationException : RoutingException
{
    /// <summary>Creates the exception from the list of problems.</summary>
    public RoutingConfigurationException(IReadOnlyList<string> problems)
        : base("RoutingSdk configuration is invalid:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => " - " + p)))
    {
        Problems = problems;
    }

    /// <summary>Each problem, naming the setting, the bad value and the fix.</summary>
    public IReadOnlyList<string> Problems { get; }
}
