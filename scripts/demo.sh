#!/usr/bin/env bash
# The main job: on a fresh Debian machine, start two local PostgreSQL clusters (installing postgresql and haproxy when
# run as root): "shared" (primary, two synchronous replicas, an asynchronous one, HAProxy) for tenants north and south,
# and "dedicated" (primary and one synchronous replica) for tenant east. Run the ErpReports sample on them for about
# 20 seconds, print its tables, stop both clusters. With --web PORT the operations page stays up until Ctrl+C.
#   scripts/demo.sh [sample arguments, e.g. --duration 30 --concurrency 16 --json result.json --config samples/ErpReports/global3config.xml]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if ! command -v dotnet >/dev/null 2>&1; then
  echo "demo.sh: the .NET 10 SDK is required and is not on PATH. Install it (https://learn.microsoft.com/dotnet/core/install/linux-debian) and run again." >&2
  exit 1
fi

# The sample's appsettings.json points at the default ports: shared at 15430-15435 in .cluster, dedicated (the small
# shape) at 15438-15439 in .cluster-b.
export ROUTING_PG_PORT_BASE=15430 ROUTING_CLUSTER_SHAPE=full
unset ROUTING_CLUSTER_DIR
dedicated() { ROUTING_CLUSTER_SHAPE=small ROUTING_PG_PORT_BASE=15438 ROUTING_CLUSTER_DIR="$repo/.cluster-b" scripts/cluster.sh "$@"; }
keep=${ROUTING_KEEP_CLUSTER:-0}
trap '[[ $keep == 1 ]] || { scripts/cluster.sh stop >/dev/null 2>&1; dedicated stop >/dev/null 2>&1; } || true' EXIT
scripts/cluster.sh start
dedicated start
dotnet build samples/ErpReports -c Release -nologo -v q -clp:NoSummary
dotnet samples/ErpReports/bin/Release/net10.0/ErpReports.dll "$@"
