#!/usr/bin/env bash
# Restores, builds and runs every test project (unit, integration on a real local cluster, analyzer), packs the
# release packages and runs the scripted checks (a consumer project outside the repository among them), then prints one line "N passed, N failed[, N skipped]" and exits non-zero on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_USE_MSBUILD_SERVER=0
export ROUTING_CLUSTER_DIR=${ROUTING_CLUSTER_DIR:-$repo/.cluster-test}
# Below the kernel's ephemeral port range (32768-60999), so no client socket can hold a port when fault tests
# restart a node; different from the demo's default 15430, so that a demo and a test run can share a machine.
export ROUTING_PG_PORT_BASE=${ROUTING_PG_PORT_BASE:-25430}
# The first cluster and the cluster-script tests are the full topology, whatever the caller's shell says; the second
# cluster's fixture asks for its own shape.
export ROUTING_CLUSTER_SHAPE=full
# The second cluster (issue 22, tenants across clusters): the small shape (primary + sync1, two ports), started by
# SecondClusterFixture eight ports above the first cluster's six, in the first one's directory with "-b" appended.
export ROUTING_PG2_PORT_BASE=${ROUTING_PG2_PORT_BASE:-$((ROUTING_PG_PORT_BASE + 8))}
export ROUTING_CLUSTER2_DIR=${ROUTING_CLUSTER2_DIR:-$ROUTING_CLUSTER_DIR-b}
# The Patroni HA cluster of the failover tests (etcd + three nodes + HAProxy), started by their fixture.
export ROUTING_HA_DIR=${ROUTING_HA_DIR:-$repo/.ha-test}
export ROUTING_HA_PORT_BASE=${ROUTING_HA_PORT_BASE:-25450}
configuration=${CONFIGURATION:-Release}
results=$(mktemp -d)

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET 10 SDK is required (dotnet not found on PATH); see README.md, Prerequisites." >&2
  echo "0 passed, 1 failed"
  exit 1
fi

cleanup() {
  if [[ "${ROUTING_KEEP_CLUSTER:-0}" != 1 ]]; then
    scripts/cluster.sh stop >/dev/null 2>&1 || true
    ROUTING_CLUSTER_SHAPE=small ROUTING_PG_PORT_BASE=$ROUTING_PG2_PORT_BASE ROUTING_CLUSTER_DIR=$ROUTING_CLUSTER2_DIR \
      scripts/cluster.sh stop >/dev/null 2>&1 || true
    scripts/ha-cluster.sh stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

passed=0; failed=0; skipped=0
fail_step() { echo "test.sh: FAILED: $1" >&2; failed=$((failed + 1)); }

echo "== starting the local PostgreSQL topology"
if ! scripts/cluster.sh start; then
  fail_step "scripts/cluster.sh start"
fi

echo "== headless Chromium for the operations-page tests"
if ! scripts/chromium.sh; then
  fail_step "scripts/chromium.sh (Chromium is needed by the operations-page browser tests)"
fi

echo "== restore and build ($configuration)"
if ! dotnet build RoutingSdk.sln -c "$configuration" -nologo -v q -clp:NoSummary; then
  fail_step "dotnet build"
  echo "$passed passed, $failed failed"
  exit 1
fi

run_tests() { # project
  local project=$1 name log
  name=$(basename "$project" .csproj)
  log="$results/$name.log"
  echo "== $name"
  dotnet test "$project" -c "$configuration" --no-build -nologo 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '(Passed|Failed)!? +- +Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' "$log" | tail -n 1)
  if [[ -z "$line" ]]; then
    fail_step "$name produced no test summary (exit code $rc)"
    return
  fi
  local f p s
  f=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$line")
  p=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$line")
  s=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [[ $rc -ne 0 && $f -eq 0 ]]; then fail_step "$name exited with $rc"; fi
}

for project in tests/*/*.csproj; do
  case "$project" in
    *Benchmarks*) continue ;; # built above; run by scripts/bench.sh, never as tests
  esac
  run_tests "$project"
done

# The release packages, as users get them (scripts/pack.sh inspects each); scripts/checks/consumer.sh then uses them
# from a project outside the repository. Counts as one.
echo "== pack (scripts/pack.sh)"
if bash scripts/pack.sh; then passed=$((passed + 1)); else fail_step "scripts/pack.sh"; fi

# Scripted checks that are tests too (each counts as one).
for check in scripts/checks/*.sh; do
  [[ -f "$check" ]] || continue
  echo "== check $(basename "$check")"
  if bash "$check"; then passed=$((passed + 1)); else fail_step "$(basename "$check")"; fi
done

summary="$passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo
echo "$summary"
((failed == 0))
