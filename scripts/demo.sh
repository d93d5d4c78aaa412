#!/usr/bin/env bash
# The main job: on a fresh Debian machine, start the local PostgreSQL topology and run the ErpReports sample on it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command -v dotnet >/dev/null 2>&1 || { echo "demo.sh: the .NET 10 SDK is required (dotnet not found); see README.md." >&2; exit 1; }

keep=${ROUTING_KEEP_CLUSTER:-0}
trap '[[ $keep == 1 ]] || scripts/cluster.sh stop >/dev/null 2>&1 || true' EXIT
scripts/cluster.sh start
while IFS= read -r line; do export "${line%%=*}=${line#*=}"; done < <(scripts/cluster.sh env)
dotnet run --project samples/ErpReports -c Release -- "$@"
