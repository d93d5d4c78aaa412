using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0001: SaveChanges, ExecuteUpdate/ExecuteDelete and ExecuteSql* in [ReadReplica]/[AsyncReplica] code.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class WriteInReplicaRouteAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.WriteInReplicaRoute);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterOperationAction(c => Analyze(c, model), OperationKind.Invocation);
        }

        internal static bool IsWrite(IMethodSymbol method, RoutingModel model)
        {
            var name = method.Name;
            var ns = method.ContainingNamespace?.ToDisplayString();
            switch (name)
            {
                case "SaveChanges":
                case "SaveChangesAsync":
                    return model.IsOrDerivesFrom(method.ContainingType, model.DbContext);
                case "ExecuteUpdate":
                case "ExecuteUpdateAsync":
                case "ExecuteDelete":
                case "ExecuteDeleteAsync":
                    return ns == "Microsoft.EntityFrameworkCore";
                case "ExecuteSql":
                case "ExecuteSqlAsync":
                case "ExecuteSqlRaw":
                case "ExecuteSqlRawAsync":
                case "ExecuteSqlInterpolated":
                case "ExecuteSqlInterpolatedAsync":
                    return ns == "Microsoft.EntityFrameworkCore" && method.ContainingType?.Name == "RelationalDatabaseFacadeExtensions";
                default:
                    return false;
            }
        }

        private static void Analyze(OperationAnalysisContext context, RoutingModel model)
        {
            var invocation = (IInvocationOperation)context.Operation;
            if (!IsWrite(invocation.TargetMethod, model))
            {
                return;
            }

            if (model.TryGetEnclosingReplicaRoute(invocation.Syntax, invocation.SemanticModel!, context.CancellationToken, out var routed, out var route))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    DiagnosticDescriptors.WriteInReplicaRoute, invocation.Syntax.GetLocation(), invocation.TargetMethod.Name, routed.Name, RoutingModel.Describe(route)));
            }
        }
    }
}
