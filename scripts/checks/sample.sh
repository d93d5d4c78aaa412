#!/usr/bin/env bash
# The main job, briefly, on the test clusters: the ERP sample must route each operation where its attribute says and
# each tenant's statements to its own cluster (north and south on "shared", east on "dedicated"), with 0 errors, as
# the servers themselves count it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The second ("dedicated") cluster: the small shape on its own ports and directory (scripts/test.sh sets both; the
# integration tests' fixture may have started it already, start is idempotent).
base=${ROUTING_PG_PORT_BASE:-15430}
dir=${ROUTING_CLUSTER_DIR:-$repo/.cluster}
pg2_base=${ROUTING_PG2_PORT_BASE:-$((base + 8))}
cluster2_dir=${ROUTING_CLUSTER2_DIR:-$dir-b}
dedicated() { ROUTING_CLUSTER_SHAPE=small ROUTING_PG_PORT_BASE=$pg2_base ROUTING_CLUSTER_DIR=$cluster2_dir scripts/cluster.sh "$@"; }
dedicated start >"$work/dedicated.log" 2>&1 || { cat "$work/dedicated.log"; echo "sample: could not start the dedicated cluster" >&2; exit 1; }

declare -A cs ds
while IFS= read -r line; do cs[${line%%=*}]=${line#*=}; done < <(ROUTING_CLUSTER_SHAPE=full scripts/cluster.sh env)
while IFS= read -r line; do ds[${line%%=*}]=${line#*=}; done < <(dedicated env)

# Point the sample's appsettings.json at these clusters through environment variables (Section__Key).
export Routing__Clusters__shared__Pools__0__ConnectionString="${cs[PRIMARY]}" Routing__Clusters__shared__Pools__1__ConnectionString="${cs[SYNC1]}"
export Routing__Clusters__shared__Pools__2__ConnectionString="${cs[SYNC2]}" Routing__Clusters__shared__Pools__3__ConnectionString="${cs[ASYNC1]}"
export Routing__Clusters__dedicated__Pools__0__ConnectionString="${ds[PRIMARY]}" Routing__Clusters__dedicated__Pools__1__ConnectionString="${ds[SYNC1]}"
export Nodes__shared__primary="${cs[PRIMARY]}" Nodes__shared__sync1="${cs[SYNC1]}" Nodes__shared__sync2="${cs[SYNC2]}" Nodes__shared__async1="${cs[ASYNC1]}"
export Nodes__dedicated__primary="${ds[PRIMARY]}" Nodes__dedicated__sync1="${ds[SYNC1]}"

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
primaries, syncs = ["shared/primary", "dedicated/primary"], ["shared/sync1", "shared/sync2", "dedicated/sync1"]
if share("OrderEntry", primaries) != 1: problems.append(f"order entry off the primaries: {s['OrderEntry']}")
if share("SalesReport", syncs) != 1: problems.append(f"sales report off the sync replicas: {s['SalesReport']}")
if share("CustomerCard", syncs) != 1: problems.append(f"customer card (DefaultRoute=ReadReplica) off the sync replicas: {s['CustomerCard']}")
if any(s["InvoicePrint"].get(p, 0) for p in primaries): problems.append(f"print form on a primary: {s['InvoicePrint']}")
if s["InvoicePrint"].get("shared/async1", 0) == 0 and not set(r["reasons"]["InvoicePrint"]) & {"LagAboveLimit", "ReplicaBehindOperationWrites", "AsyncReplicasUnavailable"}:
    problems.append(f"print form neither on async1 nor a fallback with its reason: {r['reasons']['InvoicePrint']}")
if not r["nightlyReport"].split(":")[0] in ("sync1", "sync2", "primary"): problems.append(f"nightly report: {r['nightlyReport']}")

# Tenants: each on its cluster by RoutingSdk's decisions, and each cluster's servers counting exactly the read
# statements RoutingSdk sent there (a tenant's statement on the wrong cluster would show on that cluster's servers).
expected = {"north": "shared", "south": "shared", "east": "dedicated"}
t = r["tenants"]
for tenant, cluster in expected.items():
    if tenant not in t: problems.append(f"tenant {tenant} missing: {list(t)}"); continue
    if t[tenant]["cluster"] != cluster: problems.append(f"{tenant} mapped to {t[tenant]['cluster']}, expected {cluster}")
    if t[tenant]["wrongCluster"] != 0: problems.append(f"{tenant}: {t[tenant]['wrongCluster']} decisions on a wrong cluster")
    if t[tenant]["operations"] == 0 or t[tenant]["decisions"].get(cluster, 0) == 0: problems.append(f"{tenant} ran nothing on {cluster}: {t[tenant]}")
for cluster, c in r["serverCallsByCluster"].items():
    # A read cancelled by a recovery conflict is decided twice and counted once (a cancelled statement is not counted).
    if not (0 <= c["decidedReads"] - c["serverReads"] <= r["retries"]) or c["serverReads"] == 0:
        problems.append(f"cluster {cluster}: its servers counted {c['serverReads']} read statements, RoutingSdk sent {c['decidedReads']} (retries {r['retries']})")
for op in ("SalesReport", "CustomerCard"):
    if not s[op].get("dedicated/sync1"): problems.append(f"{op} never ran on the dedicated cluster: {s[op]}")
if problems:
    print("sample: " + "; ".join(problems)); sys.exit(1)
print(f"sample: ok, {sum(r['completed'].values())} operations over {len(t)} tenants on {len(r['serverCallsByCluster'])} clusters, "
      f"0 on a wrong cluster, retries {r['retries']}, nightly report: {r['nightlyReport']}")
PY
