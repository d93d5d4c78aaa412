namespace RoutingSdk;

/// <summary>Base of the routing attributes. Put one on a service class, interface, or method.</summary>
/// <remarks>Precedence: implementation method &gt; interface method &gt; implementation class &gt; interface.
/// One routing attribute per member or type; two are a conflict (analyzer rule QR0004).</remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Interface | AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public abstract class RoutingAttribute : Attribute
{
    private string? _scenario;

    private protected RoutingAttribute()
    {
    }

    /// <summary>The route this attribute requests.</summary>
    public abstract RouteKind Route { get; }

    /// <summary>The kind of business operation (for overrides and metrics).</summary>
    public RoutingCategory Category { get; set; }

    /// <summary>The scenario name used by overrides and metrics; defaults to <c>Type.Method</c>.</summary>
    /// <exception cref="ArgumentException">The value is empty or white space.</exception>
    public string? Scenario
    {
        get => _scenario;
        set
        {
            if (value is not null && string.IsNullOrWhiteSpace(value))
            {
                throw new ArgumentException("Scenario must not be empty; leave it unset to use the default 'Type.Method'.", nameof(value));
            }

            _scenario = value;
        }
    }
}

/// <summary>Reads of this operation outside transactions go to synchronous replicas.</summary>
public sealed class ReadReplicaAttribute : RoutingAttribute
{
    /// <inheritdoc />
    public override RouteKind Route => RouteKind.ReadReplica;
}

/// <summary>Every statement of this operation goes to the primary.</summary>
public sealed class MasterOnlyAttribute : RoutingAttribute
{
    /// <inheritdoc />
    public override RouteKind Route => RouteKind.MasterOnly;
}

/// <summary>Reads of this operation may go to asynchronous replicas whose lag is within <see cref="MaxLagMilliseconds"/>.</summary>
public sealed class AsyncReplicaAttribute : RoutingAttribute
{
    private int _maxLag;

    /// <inheritdoc />
    public override RouteKind Route => RouteKind.AsyncReplica;

    /// <summary>The largest replay lag, in milliseconds, this operation accepts; unset means any healthy asynchronous replica.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int MaxLagMilliseconds
    {
        get => _maxLag;
        set
        {
            if (value <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "MaxLagMilliseconds must be > 0; leave it unset to accept any healthy asynchronous replica.");
            }

            _maxLag = value;
        }
    }
}
