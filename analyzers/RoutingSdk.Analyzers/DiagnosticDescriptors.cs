using Microsoft.CodeAnalysis;

namespace RoutingSdk.Analyzers
{
    /// <summary>Every rule of RoutingSdk's analyzer, with its ID, severity and help link (docs/rules/ID.md).</summary>
    public static class DiagnosticDescriptors
    {
        /// <summary>Category of every rule.</summary>
        public const string Category = "Routing";

        /// <summary>Base of the help links; each rule's page is docs/rules/ID.md in the repository.</summary>
        public const string HelpLinkBase = "https://github.com/RoutingSdk/RoutingSdk/blob/main/docs/rules/";

        private static DiagnosticDescriptor Rule(string id, string title, string message, DiagnosticSeverity severity, string description) =>
            new DiagnosticDescriptor(id, title, message, Category, severity, isEnabledByDefault: true, description: description, helpLinkUri: HelpLinkBase + id + ".md");

        /// <summary>QR0001: a write in replica-routed code.</summary>
        public static readonly DiagnosticDescriptor WriteInReplicaRoute = Rule(
            "QR0001", "Write in replica-routed code",
            "'{0}' writes inside '{1}', which is routed to {2}; the write goes to the primary, and the operation's later reads on the replica are not guaranteed to see it. Mark the method [MasterOnly] or move the write to a [MasterOnly] service.",
            DiagnosticSeverity.Warning,
            "Writes in [ReadReplica]/[AsyncReplica] operations suggest the operation is not read-only; route it to the master.");

        /// <summary>QR0002: a transaction opened in replica-routed code.</summary>
        public static readonly DiagnosticDescriptor TransactionInReplicaRoute = Rule(
            "QR0002", "Transaction in replica-routed code",
            "'{0}' opens a transaction inside '{1}', which is routed to {2}; every statement in the transaction runs on the primary, so the replica route does not take effect. Mark the method [MasterOnly] or remove the transaction.",
            DiagnosticSeverity.Warning,
            "Inside a transaction everything runs on the primary: the attribute is misleading.");

        /// <summary>QR0003: a routing attribute that cannot take effect.</summary>
        public static readonly DiagnosticDescriptor AttributeCannotTakeEffect = Rule(
            "QR0003", "Routing attribute cannot take effect",
            "[{0}] on '{1}' cannot take effect: {2}",
            DiagnosticSeverity.Warning,
            "The proxy that applies routing attributes can intercept only public virtual methods, or methods of an interface the service is registered under.");

        /// <summary>QR0004: conflicting routing attributes.</summary>
        public static readonly DiagnosticDescriptor ConflictingAttributes = Rule(
            "QR0004", "Conflicting routing attributes",
            "'{0}' has conflicting routing attributes ({1}); keep one",
            DiagnosticSeverity.Error,
            "A member or type can have one route only.");

        /// <summary>QR0005: a deferred query escaping its routing scope.</summary>
        public static readonly DiagnosticDescriptor DeferredQueryEscapesScope = Rule(
            "QR0005", "Deferred query escapes its routing scope",
            "'{0}' returns a deferred query ({1}); it runs when the caller enumerates it, after the {2} scope has ended, under the caller's route. Materialize it inside the method (ToList/ToListAsync) or return IAsyncEnumerable<T>.",
            DiagnosticSeverity.Warning,
            "IQueryable results execute outside the routed method.");

        /// <summary>QR0006: a weaker route called from a stricter one.</summary>
        public static readonly DiagnosticDescriptor WeakerRouteInStricterScope = Rule(
            "QR0006", "Weaker route called from a stricter one",
            "'{0}' is routed to {1} but is called from '{2}', routed to {3}; it will run at {3}",
            DiagnosticSeverity.Info,
            "Nested routes only get stricter: the callee's own route is overridden.");

        /// <summary>QR0007: route escaping into background work.</summary>
        public static readonly DiagnosticDescriptor RouteEscapesIntoBackgroundWork = Rule(
            "QR0007", "Route escapes into background work",
            "'{0}' starts work that outlives '{1}' (routed to {2}); it keeps the operation's route after the operation ended. Await it, or start the background work outside the routed method with its own route.",
            DiagnosticSeverity.Warning,
            "Fire-and-forget work inside a routed method runs with a route that no longer belongs to a running operation.");

        /// <summary>QR0008: async void routed method.</summary>
        public static readonly DiagnosticDescriptor AsyncVoidRoutedMethod = Rule(
            "QR0008", "Routed method is async void",
            "'{0}' is async void: the routing proxy cannot tell when it ends, so its route ends at its first await. Return Task.",
            DiagnosticSeverity.Warning,
            "Routed methods must return Task/ValueTask to be routed for their whole duration.");

        /// <summary>QR0009: invalid attribute arguments.</summary>
        public static readonly DiagnosticDescriptor InvalidAttributeArgument = Rule(
            "QR0009", "Invalid routing attribute argument",
            "{0}",
            DiagnosticSeverity.Error,
            "MaxLagMilliseconds must be > 0 and Scenario must not be empty; the attribute would throw at run time.");

        /// <summary>QR0010: a read-shaped write (nextval, FOR UPDATE) in replica-routed code.</summary>
        public static readonly DiagnosticDescriptor ReadShapedWriteInReplicaRoute = Rule(
            "QR0010", "Read-shaped write in replica-routed code",
            "'{0}' runs SQL with {1} inside '{2}', which is routed to {3}; a read-only replica refuses it (SQLSTATE 25006). Add .OnPrimary() to the query, or route the method [MasterOnly].",
            DiagnosticSeverity.Warning,
            "nextval()/setval() and SELECT ... FOR UPDATE/SHARE look like reads but write or lock: they need the primary.");

        /// <summary>QR0011: database work in background code (a hosted service, the work it starts) without a tenant scope.</summary>
        public static readonly DiagnosticDescriptor DatabaseWorkWithoutTenantScope = Rule(
            "QR0011", "Database work in background code without a tenant scope",
            "'{0}' runs in background code ({1}) without a tenant scope: with several clusters its statements have no tenant and fail. Wrap the work in using (TenantScope.Begin(tenant)) {{ ... }}, once per tenant.",
            DiagnosticSeverity.Warning,
            "With several clusters every statement goes to its tenant's cluster; hosted services run outside any request, so they have no tenant unless they begin a TenantScope.");
    }
}
