#!/usr/bin/env bash
# Produces docs/images/operations-page.png: the operations page of a live report workload on the local cluster, as a
# headless Chromium renders it (the browser test of tests/RoutingSdk.IntegrationTests/AspNetCore takes the picture).
#   scripts/dashboard-screenshot.sh [output.png]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
out=$(realpath -m "${1:-docs/images/operations-page.png}")
mkdir -p "$(dirname "$out")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export ROUTING_CLUSTER_DIR=${ROUTING_CLUSTER_DIR:-$repo/.cluster-test}
export ROUTING_PG_PORT_BASE=${ROUTING_PG_PORT_BASE:-25430}
scripts/chromium.sh >/dev/null
trap '[[ ${ROUTING_KEEP_CLUSTER:-0} == 1 ]] || scripts/cluster.sh stop >/dev/null 2>&1 || true' EXIT
scripts/cluster.sh start
ROUTING_DASHBOARD_SCREENSHOT=$out dotnet test tests/RoutingSdk.IntegrationTests -nologo \
  --filter 'FullyQualifiedName~DashboardTests.Browser_sees_live_routing' | tail -n 3
[[ -s $out ]] || { echo "dashboard-screenshot.sh: no screenshot was written to $out" >&2; exit 1; }
echo "dashboard-screenshot.sh: wrote $out"
