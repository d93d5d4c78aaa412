namespace RoutingSdk.Testing;

/// <summary>The local cluster script failed; the message carries what the script said.</summary>
public sealed class LocalPgClusterException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LocalPgClusterException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with an inner cause.</summary>
    public LocalPgClusterException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
