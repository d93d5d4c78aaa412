using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0002: BeginTransaction[Async], UseTransaction[Async] and new TransactionScope in [ReadReplica]/[AsyncReplica] code.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class TransactionInReplicaRouteAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.TransactionInReplicaRoute);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterOperationAction(c => AnalyzeInvocation(c, model), OperationKind.Invocation);
            start.RegisterOperationAction(c => AnalyzeCreation(c, model), OperationKind.ObjectCreation);
        }

        private static bool OpensTransaction(IMethodSymbol method, RoutingModel model)
        {
            switch (method.Name)
            {
                case "BeginTransaction":
                case "BeginTransactionAsync":
                case "UseTransaction":
                case "UseTransactionAsync":
                    return model.IsOrDerivesFrom(method.ContainingType, model.DatabaseFacade)
                        || model.IsOrDerivesFrom(method.ContainingType, model.DbConnection)
                        || (method.ContainingNamespace?.ToDisplayString() == "Microsoft.EntityFrameworkCore" && method.ContainingType?.Name == "RelationalDatabaseFacadeExtensions");
                default:
                    return false;
            }
        }

        private static void AnalyzeInvocation(OperationAnalysisContext context, RoutingModel model)
        {
            var invocation = (IInvocationOperation)context.Operation;
            if (OpensTransaction(invocation.TargetMethod, model))
            {
                Report(context, model, invocation.Syntax, invocation.TargetMethod.Name);
            }
        }

        private static void AnalyzeCreation(OperationAnalysisContext context, RoutingModel model)
        {
            var creation = (IObjectCreationOperation)context.Operation;
            if (model.TransactionScope is not null && SymbolEqualityComparer.Default.Equals(creation.Type, model.TransactionScope))
            {
                Report(context, model, creation.Syntax, "new TransactionScope");
            }
        }

        private static void Report(OperationAnalysisContext context, RoutingModel model, SyntaxNode syntax, string what)
        {
            if (model.TryGetEnclosingReplicaRoute(syntax, context.Operation.SemanticModel!, context.CancellationToken, out var routed, out var route))
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.TransactionInReplicaRoute, syntax.GetLocation(), what, routed.Name, RoutingModel.Describe(route)));
            }
        }
    }
}
