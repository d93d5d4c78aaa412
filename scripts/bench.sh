#!/usr/bin/env bash
# Benchmarks, never tests: BenchmarkDotNet micro-benchmarks (decision, proxied call, interceptor path), the end-to-end
# harness on a local cluster, and the analyzer's share of compile time on a generated 300-file project.
#   scripts/bench.sh [all|micro|e2e|analyzer]   (default: all)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
what=${1:-all}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export ROUTING_PG_PORT_BASE=${ROUTING_PG_PORT_BASE:-25530}
export ROUTING_CLUSTER_DIR=${ROUTING_CLUSTER_DIR:-$repo/.cluster-bench}
out=${BENCH_OUT:-$repo/artifacts/bench}
mkdir -p "$out"
dotnet build tests/RoutingSdk.Benchmarks -c Release -nologo -v q -clp:NoSummary

if [[ $what == all || $what == micro ]]; then
  dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- --filter '*DecisionBenchmarks*' '*ProxyBenchmarks*' '*InterceptorBenchmarks*' \
    --artifacts "$out/bdn" --exporters github | tee "$out/micro.log" | grep -E '^\|' || true
fi

if [[ $what == all || $what == e2e ]]; then
  trap 'scripts/cluster.sh stop >/dev/null 2>&1 || true' EXIT
  scripts/cluster.sh start
  while IFS= read -r line; do export "$line"; done < <(scripts/cluster.sh env)
  dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- e2e ${BENCH_E2E_ARGS:---duration 5 --repetitions 3 --concurrency 1,8} | tee "$out/e2e.md"
fi

if [[ $what == all || $what == analyzer ]]; then
  bash scripts/bench-analyzer.sh | tee "$out/analyzer.log"
fi
