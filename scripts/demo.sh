#!/usr/bin/env bash
# The main job: on a fresh Debian machine, start the local PostgreSQL read-pool topology (installing postgresql and
# haproxy when run as root), run the ErpReports sample on it for about 20 seconds, print its table, stop the cluster.
#   scripts/demo.sh [sample arguments, e.g. --duration 30 --concurrency 16 --json result.json --config samples/ErpReports/global3config.xml]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if ! command -v dotnet >/dev/null 2>&1; then
  echo "demo.sh: the .NET 10 SDK is required and is not on PATH. Install it (https://learn.microsoft.com/dotnet/core/install/linux-debian) and run again." >&2
  exit 1
fi

# The sample's appsettings.json points at the default ports.
export ROUTING_PG_PORT_BASE=15430
unset ROUTING_CLUSTER_DIR
keep=${ROUTING_KEEP_CLUSTER:-0}
trap '[[ $keep == 1 ]] || scripts/cluster.sh stop >/dev/null 2>&1 || true' EXIT
scripts/cluster.sh start
dotnet build samples/ErpReports -c Release -nologo -v q -clp:NoSummary
dotnet samples/ErpReports/bin/Release/net10.0/ErpReports.dll "$@"
