using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Infrastructure.Internal;
using RoutingSdk.Pools;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>
/// Per-DbContext routing state, installed in place of EF Core's concurrency detector (a scoped service, one per
/// context). EF Core enters the detector's critical section around every operation it runs itself — queries,
/// SaveChanges, ExecuteUpdate/Delete, ExecuteSql — and not around <c>Database.OpenConnection()</c> or
/// <c>BeginTransaction()</c>. A connection opened outside that section was opened by the caller.
/// </summary>
#pragma warning disable EF1001 // ConcurrencyDetector is EF Core infrastructure; its virtual members are the extension point used here.
internal sealed class RoutingContextState : ConcurrencyDetector, IResettableService
{
    private int _operationDepth;

    /// <summary>EF Core is running an operation of its own on this context.</summary>
    public bool InEfOperation => _operationDepth > 0;

    /// <summary>A write was announced (SavingChanges, or a non-query command created before its connection opened).</summary>
    public bool PendingWrite { get; set; }

    /// <summary>The pool the context's connection is open on, if it is open through routing.</summary>
    public RoutingPool? OpenPool { get; set; }

    /// <summary>The connection string the context's connection had before routing changed it (restored on close).</summary>
    public string? HomeConnectionString { get; set; }

    public override ConcurrencyDetectorCriticalSectionDisposer EnterCriticalSection()
    {
        var disposer = base.EnterCriticalSection();
        _operationDepth++;
        return disposer;
    }

    public override void ExitCriticalSection()
    {
        _operationDepth--;
        base.ExitCriticalSection();
    }

    /// <summary>A pooled context is handed out again: nothing of the previous lease carries over.</summary>
    public void ResetState()
    {
        PendingWrite = false;
        OpenPool = null;
    }

    public Task ResetStateAsync(CancellationToken cancellationToken = default)
    {
        ResetState();
        return Task.CompletedTask;
    }
}
#pragma warning restore EF1001
