#!/usr/bin/env bash
# The main job, briefly, on the test cluster: the ERP sample must route each operation where its attribute says,
# with 0 errors, as the servers themselves count it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A cs
while IFS= read -r line; do cs[${line%%=*}]=${line#*=}; done < <(scripts/cluster.sh env)

# Point the sample's appsettings.json at this cluster through environment variables (Section__Key).
export Routing__Pools__0__ConnectionString="${cs[PRIMARY]}" Routing__Pools__1__ConnectionString="${cs[SYNC1]}"
export Routing__Pools__2__ConnectionString="${cs[SYNC2]}" Routing__Pools__3__ConnectionString="${cs[ASYNC1]}"
export Nodes__primary="${cs[PRIMARY]}" Nodes__sync1="${cs[SYNC1]}" Nodes__sync2="${cs[SYNC2]}" Nodes__async1="${cs[ASYNC1]}"

dotnet samples/ErpReports/bin/${CONFIGURATION:-Release}/net10.0/ErpReports.dll --duration 6 --concurrency 4 --orders 2000 --json "$work/result.json" >"$work/out.log" 2>&1 \
  || { tr '\r' '\n' <"$work/out.log" | tail -40; echo "sample: the run failed" >&2; exit 1; }

python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["serverCalls"]
def share(op, nodes):
    total = sum(s[op].values())
    return sum(s[op].get(n, 0) for n in nodes) / total if total else 0
problems = []
if r["errors"]: problems.append(f"errors: {r['errors'][:3]}")
if share("OrderEntry", ["primary"]) != 1: problems.append(f"order entry off the primary: {s['OrderEntry']}")
if share("SalesReport", ["sync1", "sync2"]) != 1: problems.append(f"sales report off the sync replicas: {s['SalesReport']}")
if share("CustomerCard", ["sync1", "sync2"]) != 1: problems.append(f"customer card (DefaultRoute=ReadReplica) off the sync replicas: {s['CustomerCard']}")
if s["InvoicePrint"].get("primary", 0) != 0: problems.append(f"print form on the primary: {s['InvoicePrint']}")
if s["InvoicePrint"].get("async1", 0) == 0 and not set(r["reasons"]["InvoicePrint"]) & {"LagAboveLimit", "ReplicaBehindOperationWrites", "AsyncReplicasUnavailable"}:
    problems.append(f"print form neither on async1 nor a fallback with its reason: {r['reasons']['InvoicePrint']}")
if not r["nightlyReport"].split(":")[0] in ("sync1", "sync2", "primary"): problems.append(f"nightly report: {r['nightlyReport']}")
if problems:
    print("sample: " + "; ".join(problems)); sys.exit(1)
print(f"sample: ok, {sum(r['completed'].values())} operations, retries {r['retries']}, nightly report: {r['nightlyReport']}")
PY
