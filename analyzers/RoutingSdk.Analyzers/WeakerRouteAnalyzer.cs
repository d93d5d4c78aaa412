using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0006: a weaker route called from a stricter one ([MasterOnly] → [ReadReplica]/[AsyncReplica]; [ReadReplica] → [AsyncReplica]).</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class WeakerRouteAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.WeakerRouteInStricterScope);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterOperationAction(c => Analyze(c, model), OperationKind.Invocation);
        }

        private static void Analyze(OperationAnalysisContext context, RoutingModel model)
        {
            var invocation = (IInvocationOperation)context.Operation;
            var calleeRoute = model.EffectiveRoute(invocation.TargetMethod);
            if (calleeRoute == Route.None)
            {
                return;
            }

            var caller = model.EnclosingRoutedMethod(invocation.Syntax, invocation.SemanticModel!, context.CancellationToken);
            if (caller is null || SymbolEqualityComparer.Default.Equals(caller, invocation.TargetMethod))
            {
                return;
            }

            var callerRoute = model.EffectiveRoute(caller);
            if (callerRoute > calleeRoute)
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    DiagnosticDescriptors.WeakerRouteInStricterScope, invocation.Syntax.GetLocation(),
                    invocation.TargetMethod.Name, RoutingModel.Describe(calleeRoute), caller.Name, RoutingModel.Describe(callerRoute)));
            }
        }
    }
}
