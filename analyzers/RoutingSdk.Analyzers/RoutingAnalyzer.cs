using Microsoft.CodeAnalysis.Diagnostics;

namespace RoutingSdk.Analyzers
{
    /// <summary>
    /// Base of RoutingSdk's analyzers: concurrent, skips generated code, and runs only in compilations that reference
    /// RoutingSdk (resolving its symbols once per compilation).
    /// </summary>
    public abstract class RoutingAnalyzer : DiagnosticAnalyzer
    {
        /// <inheritdoc />
        public sealed override void Initialize(AnalysisContext context)
        {
            context.EnableConcurrentExecution();
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.RegisterCompilationStartAction(start =>
            {
                var model = RoutingModel.Create(start.Compilation);
                if (model is not null)
                {
                    Register(start, model);
                }
            });
        }

        /// <summary>Registers the rule's actions for a compilation that references RoutingSdk.</summary>
        private protected abstract void Register(CompilationStartAnalysisContext context, RoutingModel model);
    }
}
