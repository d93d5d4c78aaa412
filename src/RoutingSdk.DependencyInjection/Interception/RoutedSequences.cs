namespace RoutingSdk.DependencyInjection.Interception;

/// <summary>
/// Lazy results (async streams, iterators) run their body when the caller enumerates them, after the routed call
/// returned: each step is run inside the method's route again.
/// </summary>
internal static class RoutedSequences
{
    public static object WrapAsync<T>(object sequence, MethodRoute route) => new RoutedAsyncEnumerable<T>((IAsyncEnumerable<T>)sequence, route);

    public static object Wrap<T>(object sequence, MethodRoute route) =>
        // Materialized collections hold no deferred work, and wrapping would hide their type from the caller.
        sequence is ICollection<T> or IReadOnlyCollection<T> or IQueryable or string
            ? sequence
            : new RoutedEnumerable<T>((IEnumerable<T>)sequence, route);

    private sealed class RoutedAsyncEnumerable<T>(IAsyncEnumerable<T> inner, MethodRoute route) : IAsyncEnumerable<T>
    {
        public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            using var scope = route.Begin();
            return new Enumerator(inner.GetAsyncEnumerator(cancellationToken), route);
        }

        private sealed class Enumerator(IAsyncEnumerator<T> inner, MethodRoute route) : IAsyncEnumerator<T>
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

    private sealed class RoutedEnumerable<T>(IEnumerable<T> inner, MethodRoute route) : IEnumerable<T>
    {
        public IEnumerator<T> GetEnumerator()
        {
            using var scope = route.Begin();
            return new Enumerator(inner.GetEnumerator(), route);
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        private sealed class Enumerator(IEnumerator<T> inner, MethodRoute route) : IEnumerator<T>
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
