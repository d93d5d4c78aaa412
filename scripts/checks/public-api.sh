#!/usr/bin/env bash
# The public API is declared (src/<Project>/PublicAPI.*.txt, Microsoft.CodeAnalysis.PublicApiAnalyzers): a public
# member added without declaring it must fail the build with RS0016. Adds one to RoutingSdk.OpenTelemetry (the
# smallest package) for the length of one build, then removes it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
project="$repo/src/RoutingSdk.OpenTelemetry"
probe="$project/PublicApiProbe.cs"
log=$(mktemp)
trap 'rm -f "$probe" "$log"' EXIT
cat >"$probe" <<'CS'
namespace RoutingSdk.OpenTelemetry;

/// <summary>Added by scripts/checks/public-api.sh for one build; never committed.</summary>
public static class PublicApiProbe
{
    /// <summary>An undeclared public member.</summary>
    public static int Undeclared() => 42;
}
CS
if dotnet build "$project/RoutingSdk.OpenTelemetry.csproj" -c "${CONFIGURATION:-Release}" --no-dependencies -nologo -v q -clp:NoSummary >"$log" 2>&1; then
  cat "$log"
  echo "public-api: the build accepted an undeclared public member" >&2
  exit 1
fi
if grep -q "error RS0016: Symbol 'static RoutingSdk.OpenTelemetry.PublicApiProbe.Undeclared() -> int'" "$log"; then
  echo "public-api: ok, an undeclared public member fails the build: $(grep -o "error RS0016: Symbol '[^']*'" "$log" | sort -u | head -n 2 | paste -sd' ' -)"
else
  cat "$log"
  echo "public-api: the build failed, but not with RS0016 for the undeclared member" >&2
  exit 1
fi
