using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingSdk.EntityFrameworkCore.Interception;

/// <summary>What a command may do on the connection it is about to be sent on, checked before anything is sent.</summary>
internal static class CommandRules
{
    /// <summary>
    /// Checks a command against its open connection and records what it may do: the connection's cluster (several
    /// configured), a write or a <c>.OnPrimary()</c> query never on a replica, and whether the statement may have
    /// effect (so that a lost connection is never answered by running it again).
    /// </summary>
    public static void BeforeExecute(RoutingContextState state, EfRoutingCore core, CommandSource source, string commandText)
    {
        core.EnsureSameCluster(state, state.BindingMayHaveEffect);
        if (!EfRoutingCore.IsWrite(source))
        {
            if (EnsureMarkedQueryOnPrimary(commandText, state) && state.OpenPool is { AcceptTxSession: true })
            {
                state.BindingMayHaveEffect = true; // marked .OnPrimary(): no longer a stand-in read, whatever opened the connection
                state.WroteInAttempt = true;
            }

            if (state.BindingMayHaveEffect && state.OpenPool is { AcceptTxSession: true })
            {
                // A query on a connection routed to the primary as a non-read (under [MasterOnly], .OnPrimary(), a
                // connection the caller opened): it may call a function that writes (SELECT post_invoice(...)). Its
                // outcome is unknown if the connection dies, exactly like a SaveChanges. A statement after it means the
                // one before completed: re-running the attempt would repeat that one.
                state.WriteCompletedInAttempt |= state.WriteInFlight && !state.InSaveChanges;
                state.WriteInFlight = true;
            }

            return;
        }

        EfRoutingCore.EnsureNotOnReplica(state, source);
        state.WriteInFlight = true;
    }

    /// <summary>
    /// A query marked <c>.OnPrimary()</c> is about to run on a replica connection (the node is chosen when the connection
    /// opens, before EF Core creates the command): stop it before it reaches the server, and let the execution strategy
    /// run the attempt again on the primary. Nothing was sent, so nothing is repeated on the server. Returns whether the
    /// query is marked: a marked query on the primary may write (a posting function in a SELECT), even where the
    /// connection was opened there as a stand-in for the replicas.
    /// </summary>
    public static bool EnsureMarkedQueryOnPrimary(string commandText, RoutingContextState state)
    {
        if (!commandText.StartsWith("-- ", StringComparison.Ordinal) || !HasPrimaryTag(commandText))
        {
            return false;
        }

        if (state.OpenPool is { AcceptTxSession: false } pool)
        {
            if (state.StrategyDepth == 0 || state.WroteInAttempt)
            {
                throw new RoutingException(
                    $"A query marked .OnPrimary() was about to run on {pool.DisplayName}, a read replica, and RoutingSdk could not move it: the connection was already open there " +
                    "and the surrounding operation cannot be repeated (it wrote, or runs outside EF Core's execution strategy). Run the operation under RoutingScope.Begin(RouteKind.MasterOnly) or [MasterOnly].");
            }

            throw new EfRoutingCore.RerouteToPrimaryException();
        }

        return true;
    }

    private static bool HasPrimaryTag(string sql)
    {
        // Tags are the leading "-- " comment lines.
        foreach (var line in sql.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith("-- ", StringComparison.Ordinal))
            {
                return false;
            }

            if (line[3..].Trim().SequenceEqual(EfRoutingCore.PrimaryTag))
            {
                return true;
            }
        }

        return false;
    }
}
