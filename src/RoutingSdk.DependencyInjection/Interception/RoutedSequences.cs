namespace RoutingSdk.DependencyInjection.Interception;

/// <summary>
/// Lazy results (async streams, iterators) run their body when the caller enumerates them, after the routed call
/// returned: each step is run inside the method's route again, and for the tenant of the call (several clusters
/// configured: a sequence enumerated after the caller's TenantScope ended still reads its tenant's cluster).
/// </summary>
internal static class RoutedSequences
{
    public static object WrapAsync<T>(object sequence, MethodRoute route) => new RoutedAsyncEnumerable<T>((IAsyncEnumerable<T>)sequence, new Step(route, TenantScope.CurrentTenant));

    public static object Wrap<T>(object sequence, MethodRoute route) =>
        // Materialized collections hold no deferred work, and wrapping would hide their type from the caller.
        sequence is ICollection<T> or IReadOnlyCollection<T> or IQueryable or string
            ? sequence
            : new RoutedEnumerable<T>((IEnumerable<T>)sequence, new Step(route, TenantScope.CurrentTenant));

    /// <summary>The route of the method and the tenant of its call, begun around each step of the enumeration.</summary>
    private sealed class Step(MethodRoute route, string? tenant)
    {
        public Scopes Begin() => new(tenant is not null && TenantScope.CurrentTenant != tenant ? TenantScope.Begin(tenant) : null, route.Begin());
    }

    private readonly struct Scopes(TenantScope? tenant, IDisposable route) : IDisposable
    {
        public void Dispose()
        {
            route.Dispose();
            tenant?.Dispose();
        }
    }

    private sealed class RoutedAsyncEnumerable<T>(IAsyncEnumerable<T> inner, Step route) : IAsyncEnumerable<T>
    {
        public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            using var scope = route.Begin();
            return new Enumerator(inner.GetAsyncEnumerator(cancellationToken), route);
        }

        private sealed class Enumerator(IAsyncEnumerator<T> inner, Step route) : IAsyncEnumerator<T>
        {
            public T Current => inner.Current;

            public ValueTask<bool> MoveNextAsync()
            {
                // The iterator's continuations capture the context here, scope included.
                using var scope = route.Begin();
                return inner.MoveNextAsync();
            }

            public ValueTask DisposeAsync()
            {
                using var scope = route.Begin();
                return inner.DisposeAsync();
            }
        }
    }

    private sealed class RoutedEnumerable<T>(IEnumerable<T> inner, Step route) : IEnumerable<T>
    {
        public IEnumerator<T> GetEnumerator()
        {
            using var scope = route.Begin();
            return new Enumerator(inner.GetEnumerator(), route);
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        private sealed class Enumerator(IEnumerator<T> inner, Step route) : IEnumerator<T>
        {
            public T Current => inner.Current;

            object? System.Collections.IEnumerator.Current => Current;

            public bool MoveNext()
            {
                using var scope = route.Begin();
                return inner.MoveNext();
            }

            public void Reset() => inner.Reset();

            public void Dispose()
            {
                using var scope = route.Begin();
                inner.Dispose();
            }
        }
    }
}
