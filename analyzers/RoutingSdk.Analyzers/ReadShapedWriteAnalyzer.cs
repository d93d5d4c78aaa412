using System;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace RoutingSdk.Analyzers
{
    /// <summary>
    /// QR0010: a raw-SQL query (FromSql*, SqlQuery*) whose SQL writes or locks — nextval()/setval(), SELECT ... FOR UPDATE/SHARE —
    /// in replica-routed code, without .OnPrimary(): a replica refuses it (SQLSTATE 25006).
    /// </summary>
    [DiagnosticAnalyzer(LanguageNames.CSharp)]
    public sealed class ReadShapedWriteAnalyzer : RoutingAnalyzer
    {
        private static readonly string[] WritingSql = { "nextval(", "setval(", "for update", "for no key update", "for share", "for key share" };

        /// <inheritdoc />
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(DiagnosticDescriptors.ReadShapedWriteInReplicaRoute);

        private protected override void Register(CompilationStartAnalysisContext start, RoutingModel model)
        {
            start.RegisterOperationAction(c => Analyze(c, model), OperationKind.Invocation);
        }

        private static bool IsRawQuery(IMethodSymbol method)
        {
            switch (method.Name)
            {
                case "FromSql":
                case "FromSqlRaw":
                case "FromSqlInterpolated":
                case "SqlQuery":
                case "SqlQueryRaw":
                    return method.ContainingNamespace?.ToDisplayString() == "Microsoft.EntityFrameworkCore";
                default:
                    return false;
            }
        }

        private static void Analyze(OperationAnalysisContext context, RoutingModel model)
        {
            var invocation = (IInvocationOperation)context.Operation;
            if (!IsRawQuery(invocation.TargetMethod))
            {
                return;
            }

            IArgumentOperation? sqlArgument = null;
            foreach (var argument in invocation.Arguments)
            {
                if (argument.Parameter?.Name is "sql" or "sqlQuery")
                {
                    sqlArgument = argument;
                }
            }

            var what = sqlArgument is null ? null : FindWritingSql(sqlArgument.Value);
            if (what is null || IsMarkedOnPrimary(invocation))
            {
                return;
            }

            if (model.TryGetEnclosingReplicaRoute(invocation.Syntax, invocation.SemanticModel!, context.CancellationToken, out var routed, out var route))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    DiagnosticDescriptors.ReadShapedWriteInReplicaRoute, sqlArgument!.Syntax.GetLocation(), invocation.TargetMethod.Name, what, routed.Name, RoutingModel.Describe(route)));
            }
        }

        /// <summary>The constant text of the SQL (a literal, an interpolated string's text parts, a constant) that writes or locks.</summary>
        private static string? FindWritingSql(IOperation value)
        {
            while (value is IConversionOperation conversion)
            {
                value = conversion.Operand;
            }

            string text;
            if (value.ConstantValue.HasValue && value.ConstantValue.Value is string constant)
            {
                text = constant;
            }
            else if (value is IInterpolatedStringOperation interpolated)
            {
                var parts = new System.Text.StringBuilder();
                foreach (var part in interpolated.Parts)
                {
                    if (part is IInterpolatedStringTextOperation t && t.Text.ConstantValue.Value is string s)
                    {
                        parts.Append(s);
                    }
                    else
                    {
                        parts.Append(' ');
                    }
                }

                text = parts.ToString();
            }
            else
            {
                return null;
            }

            // SQL string literals and comments do not execute: 'for update later' is data.
            var code = System.Text.RegularExpressions.Regex.Replace(text, @"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", " ", System.Text.RegularExpressions.RegexOptions.Singleline);
            var normalized = System.Text.RegularExpressions.Regex.Replace(code.ToLowerInvariant(), @"\s+", " ");
            foreach (var marker in WritingSql)
            {
                if (normalized.IndexOf(marker, StringComparison.Ordinal) >= 0)
                {
                    return marker.EndsWith("(", StringComparison.Ordinal) ? marker + ")" : marker.ToUpperInvariant();
                }
            }

            return null;
        }

        /// <summary>The query is passed on (possibly through more operators) to RoutingSdk's .OnPrimary().</summary>
        private static bool IsMarkedOnPrimary(IInvocationOperation invocation)
        {
            IOperation current = invocation;
            while (current.Parent is { } parent)
            {
                if (parent is IArgumentOperation or IConversionOperation)
                {
                    current = parent;
                    continue;
                }

                if (parent is IInvocationOperation next && (ReferenceEquals(next.Instance, current) || (next.Arguments.Length > 0 && ReferenceEquals(next.Arguments[0], current))))
                {
                    if (next.TargetMethod.Name == "OnPrimary" && next.TargetMethod.ContainingType?.Name == "QueryRoutingQueryableExtensions")
                    {
                        return true;
                    }

                    current = next;
                    continue;
                }

                return false;
            }

            return false;
        }
    }
}
