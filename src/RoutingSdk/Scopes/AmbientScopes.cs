namespace RoutingSdk.Scopes;

/// <summary>The end of an ambient scope kept in an <see cref="AsyncLocal{T}"/> chain (<see cref="RoutingScope"/>, <see cref="TenantScope"/>).</summary>
internal static class AmbientScopes
{
    /// <summary>
    /// Ends <paramref name="scope"/> in the current flow: only the flow that owns it is restored. When inner scopes
    /// were leaked (not disposed), ending this one ends them too; a scope disposed from another flow changes nothing there.
    /// </summary>
    public static void End<T>(AsyncLocal<T?> current, T scope, Func<T, T?> parentOf)
        where T : class
    {
        for (var s = current.Value; s is not null; s = parentOf(s))
        {
            if (ReferenceEquals(s, scope))
            {
                current.Value = parentOf(scope);
                return;
            }
        }
    }
}
