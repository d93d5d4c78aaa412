using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>QR0007: Task.Run, TaskFactory.StartNew, ThreadPool.QueueUserWorkItem or an un-awaited async call inside a routed method.</summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class BackgroundWorkAnalyzer : RoutingAnalyzer
    {
        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.RouteEscapesIntoBackgroundWork);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterOperationAction(c => Analyze(c, model), OperationKind.Invocation);
        }

        // Task.Run and TaskFactory.StartNew return a task: they escape only when that task is not awaited (the discard rule below).
        private static bool StartsBackgroundWork(IMethodSymbol method, RoutingModel model) =>
            method.Name is "QueueUserWorkItem" or "UnsafeQueueUserWorkItem" && SymbolEqualityComparer.Default.Equals(method.ContainingType, model.ThreadPool);

        private static bool IsDiscardedAwaitable(IInvocationOperation invocation, RoutingModel model)
        {
            var parent = invocation.Parent;
            while (parent is IConversionOperation)
            {
                parent = parent.Parent;
            }

            var discarded = parent switch
            {
                IExpressionStatementOperation => true,
                ISimpleAssignmentOperation { Target: IDiscardOperation } => true,
                _ => false,
            };
            return discarded && model.IsAwaitable(invocation.Type);
        }

        private static void Analyze(OperationAnalysisContext context, RoutingModel model)
        {
            var invocation = (IInvocationOperation)context.Operation;
            var background = StartsBackgroundWork(invocation.TargetMethod, model);
            if (!background && !IsDiscardedAwaitable(invocation, model))
            {
                return;
            }

            var routed = model.EnclosingRoutedMethod(invocation.Syntax, invocation.SemanticModel!, context.CancellationToken);
            if (routed is null)
            {
                return;
            }

            var route = model.EffectiveRoute(routed);
            if (route != Route.None)
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    DiagnosticDescriptors.RouteEscapesIntoBackgroundWork, invocation.Syntax.GetLocation(), invocation.TargetMethod.Name, routed.Name, RoutingModel.Describe(route)));
            }
        }
    }
}
