#!/usr/bin/env bash
# Benchmarks, never tests: BenchmarkDotNet micro-benchmarks (decision, proxied call, interceptor path), the end-to-end
# harness on a local cluster, and the analyzer's share of compile time on a generated 300-file project.
#   scripts/bench.sh [all|micro|e2e|curve|overhead|alloc|profile|analyzer] [options]   (default: all)
#
#   e2e [--master-cpu <cores>] [--write-share <percent>] [harness arguments...]
#       The end-to-end harness. --master-cpu caps the primary (its postmaster and every backend it forks) at that many
#       cores through a cgroup (v1 'cpu' controller or v2 'cpu.max', whichever is writable; needs root), so the run
#       shows what routing does for a master that is short of CPU. Env knob: BENCH_MASTER_CPU.
#   curve [--caps "0.25 0.5 1 none"] [--write-shares "10 30"]
#       The master-bound curve: the harness at each primary cap and write share (8 workers), variants (a), (b), (d), (f).
#   overhead [--rounds 9] [--slice 3] [--idle 10] [--instances 100] [--variants plain,routed,nomonitor,interceptors,connonly,cmdonly] [harness arguments...]
#       What routing costs on the same node (plain EF Core on sync1 vs routed to sync1 with the defaults, and with the
#       health monitor off), interleaved rounds, each variant's service provider alive only during its own slices;
#       then the monitor's cost on the primary (an idle routed app, and a fleet of --instances idle apps).
#   alloc
#       Bytes allocated per synchronous point read on sync1: plain EF Core, empty interceptors, RoutingSdk with the
#       defaults, with read retry off and with ReadRetry.BufferResults on.
#   tenants [--rounds 3] [--slice 6] [--noisy 32] [--limit 4]
#       A noisy tenant on a shared cluster: two quiet tenants' report reads alone, with a noisy tenant's many long reads,
#       and with Tenants.MaxConnectionsPerTenant; the quiet tenants' throughput and latency in each.
#   profile [--variant routed] [--seconds 20]
#       One same-node variant run continuously under dotnet-counters (lock contention, thread pool, GC, allocation)
#       and dotnet-trace (CPU samples, speedscope); installs both .NET tools when missing. Output in artifacts/bench/profile-<variant>.*;
#       prints the share of CPU samples in RoutingSdk's own code (by frame) and in the health monitor.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
what=${1:-all}
[[ $# -gt 0 ]] && shift
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export ROUTING_PG_PORT_BASE=${ROUTING_PG_PORT_BASE:-25530}
export ROUTING_CLUSTER_DIR=${ROUTING_CLUSTER_DIR:-$repo/.cluster-bench}
out=${BENCH_OUT:-$repo/artifacts/bench}
mkdir -p "$out"

die() { echo "bench.sh: $*" >&2; exit 2; }

master_cpu=${BENCH_MASTER_CPU:-}
write_share=10
caps="0.25 0.5 1 none"
write_shares="10 30"
harness_args=()
profile_variant=routed
profile_seconds=20
while [[ $# -gt 0 ]]; do
  case $1 in
    --master-cpu) [[ $# -ge 2 ]] || die "--master-cpu needs a number of cores, e.g. --master-cpu 0.4"; master_cpu=$2; shift 2 ;;
    --write-share) [[ $# -ge 2 ]] || die "--write-share needs a percentage, e.g. --write-share 30"; write_share=$2; shift 2 ;;
    --caps) [[ $# -ge 2 ]] || die "--caps needs a list, e.g. --caps \"0.25 0.5 1 none\""; caps=$2; shift 2 ;;
    --write-shares) [[ $# -ge 2 ]] || die "--write-shares needs a list, e.g. --write-shares \"10 30\""; write_shares=$2; shift 2 ;;
    --variant) [[ $# -ge 2 ]] || die "--variant needs plain, routed or nomonitor"; profile_variant=$2; shift 2 ;;
    --seconds) [[ $# -ge 2 ]] || die "--seconds needs a number of seconds"; profile_seconds=$2; shift 2 ;;
    *) harness_args+=("$1"); shift ;;
  esac
done
case $what in all | micro | e2e | curve | overhead | alloc | tenants | profile | analyzer) ;; *) die "unknown benchmark '$what'; use all, micro, e2e, curve, overhead, alloc, tenants, profile or analyzer." ;; esac

# --- Capping the primary's CPU -------------------------------------------------------------------------------------
CG_NAME=routingsdk-bench-primary
cg_dir=""
cg_kind=""

# Finds a writable cpu controller: cgroup v1 (/sys/fs/cgroup/cpu) or v2 (cpu.max under the unified hierarchy).
cg_detect() {
  if [[ -w /sys/fs/cgroup/cpu/cgroup.procs && -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
    cg_kind=v1; cg_dir=/sys/fs/cgroup/cpu/$CG_NAME
  else
    local root
    for root in /sys/fs/cgroup /sys/fs/cgroup/unified; do
      if [[ -f $root/cgroup.controllers ]] && grep -qw cpu "$root/cgroup.controllers" && [[ -w $root/cgroup.subtree_control ]]; then
        echo +cpu >"$root/cgroup.subtree_control" 2>/dev/null || true
        cg_kind=v2; cg_dir=$root/$CG_NAME
        break
      fi
    done
  fi
  [[ -n $cg_kind ]] || die "cannot cap the primary's CPU: no writable cgroup cpu controller (v1 /sys/fs/cgroup/cpu or v2 cpu.max). \
Run as root on a machine whose cgroups are writable (not inside an unprivileged container), or run without --master-cpu."
  mkdir -p "$cg_dir" || die "cannot create $cg_dir; run as root."
}

# cap <cores|none>: sets the quota (period 100 ms) and moves the primary's postmaster and children into the group.
cap_primary() {
  local cores=$1 pid quota
  [[ -n $cg_kind ]] || cg_detect
  if [[ $cores == none ]]; then
    quota=-1
  else
    [[ $cores =~ ^[0-9]*\.?[0-9]+$ ]] || die "--master-cpu '$cores' is not a number of cores (e.g. 0.4, 1, 2) or 'none'."
    quota=$(awk -v c="$cores" 'BEGIN { q = int(c * 100000); print (q < 1000 ? 1000 : q) }')
  fi
  if [[ $cg_kind == v1 ]]; then
    echo 100000 >"$cg_dir/cpu.cfs_period_us"
    echo "$quota" >"$cg_dir/cpu.cfs_quota_us"
  else
    if [[ $quota == -1 ]]; then echo "max 100000" >"$cg_dir/cpu.max"; else echo "$quota 100000" >"$cg_dir/cpu.max"; fi
  fi
  pid=$(head -1 "$ROUTING_CLUSTER_DIR/primary/postmaster.pid" 2>/dev/null) || die "the primary is not running ($ROUTING_CLUSTER_DIR/primary/postmaster.pid missing)."
  for p in "$pid" $(pgrep -P "$pid"); do echo "$p" >"$cg_dir/cgroup.procs" 2>/dev/null || true; done
  echo "bench.sh: primary (pid $pid) capped at ${cores} core(s) via cgroup $cg_kind $cg_dir" >&2
}

uncap_primary() {
  [[ -n $cg_dir && -d $cg_dir ]] || return 0
  local parent; parent=$(dirname "$cg_dir")
  while read -r p; do echo "$p" >"$parent/cgroup.procs" 2>/dev/null || true; done <"$cg_dir/cgroup.procs"
  rmdir "$cg_dir" 2>/dev/null || true
}

start_cluster() {
  trap 'uncap_primary; scripts/cluster.sh stop >/dev/null 2>&1 || true' EXIT
  scripts/cluster.sh start
  while IFS= read -r line; do export "$line"; done < <(scripts/cluster.sh env)
  ROUTING_PRIMARY_PID=$(head -1 "$ROUTING_CLUSTER_DIR/primary/postmaster.pid")
  ROUTING_CLK_TCK=$(getconf CLK_TCK)
  export ROUTING_PRIMARY_PID ROUTING_CLK_TCK
}

# backend_split <seconds>: CPU (schedstat) and runs per second of every backend of the application's login on sync1.
backend_split() {
  local port=$((ROUTING_PG_PORT_BASE + 1)) before after
  local sql="SELECT pid, application_name FROM pg_stat_activity WHERE usename = current_user AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
  snap() {
    PGPASSWORD=${ROUTING_PG_PASSWORD:-routing} psql -h 127.0.0.1 -p "$port" -U "${ROUTING_PG_USER:-routing}" -d "${ROUTING_PG_DATABASE:-routing}" -Atc "$sql" |
      while IFS='|' read -r pid app; do echo "$pid|$app|$(cat "/proc/$pid/schedstat" 2>/dev/null)"; done | sort
  }
  before=$(snap); sleep "$1"; after=$(snap)
  echo "sync1 backends of the application's login over $1 s:"
  join -t'|' <(echo "$before") <(echo "$after") | awk -F'|' -v s="$1" '{ split($3, a, " "); split($5, b, " ");
    printf "  pid %s (%s): %.1f ms CPU/s, %.0f runs/s\n", $1, $2, (b[1] - a[1]) / 1e6 / s, (b[3] - a[3]) / s }'
}

harness() { dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- e2e "$@"; }

dotnet build tests/RoutingSdk.Benchmarks -c Release -nologo -v q -clp:NoSummary

if [[ $what == all || $what == micro ]]; then
  dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- --filter '*DecisionBenchmarks*' '*ProxyBenchmarks*' '*InterceptorBenchmarks*' \
    --artifacts "$out/bdn" --exporters github | tee "$out/micro.log" | grep -E '^\|' || true
fi

if [[ $what == all || $what == e2e ]]; then
  start_cluster
  label=uncapped
  if [[ -n $master_cpu ]]; then cap_primary "$master_cpu"; label="primary capped at $master_cpu core(s)"; fi
  if [[ ${#harness_args[@]} -eq 0 ]]; then harness_args=(--duration 5 --repetitions 3 --concurrency 1,8); fi
  harness "${harness_args[@]}" --write-share "$write_share" --label "$label" | tee "$out/e2e${master_cpu:+-cpu$master_cpu}.md"
  uncap_primary
fi

if [[ $what == curve ]]; then
  start_cluster
  {
    echo "Master-bound curve: 8 workers, 5 s runs, 2 repetitions (medians). Primary CPU from /proc (postmaster + backends), per 1,000 operations."
    echo
    echo "| primary cap | writes | variant | ops/s | vs (a) | point-read p99 ms | vs (a) | primary CPU ms / 1,000 ops | vs (a) | reads off the primary |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
  } >"$out/curve.md"
  for share in $write_shares; do
    for cap in $caps; do
      cap_primary "$cap"
      harness --duration 5 --repetitions 2 --concurrency 8 --variants a,b,d,f --write-share "$share" --no-same-node \
        --label "$cap" --rows-only | tee -a "$out/curve.md"
    done
  done
  uncap_primary
  cat "$out/curve.md"
fi

if [[ $what == overhead ]]; then
  start_cluster
  dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- overhead "${harness_args[@]}" | tee "$out/overhead.md"
fi

if [[ $what == alloc ]]; then
  start_cluster
  dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- alloc | tee "$out/alloc.md"
fi

if [[ $what == tenants ]]; then
  start_cluster
  dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- tenants "${harness_args[@]}" | tee "$out/tenants.md"
fi

if [[ $what == profile ]]; then
  export PATH="$PATH:$HOME/.dotnet/tools"
  for tool in dotnet-trace dotnet-counters; do
    command -v "$tool" >/dev/null 2>&1 || dotnet tool install --global "$tool" >&2 || die "cannot install $tool (dotnet tool install --global $tool)."
  done
  start_cluster
  log="$out/profile-$profile_variant.log"
  dotnet run -c Release --no-build --project tests/RoutingSdk.Benchmarks -- overhead --profile-variant "$profile_variant" \
    --profile-seconds $((profile_seconds * 2 + 10)) 2>"$log" &
  runner=$!
  pid=""
  for _ in $(seq 1 120); do
    pid=$(sed -n 's/^profile: pid \([0-9]*\) running.*/\1/p' "$log" | head -1)
    [[ -n $pid ]] && break
    sleep 0.5
  done
  [[ -n $pid ]] || { kill "$runner" 2>/dev/null; die "the profiled harness did not start; see $log"; }
  sleep 2
  span=$(printf '00:%02d:%02d:%02d' $((profile_seconds / 3600)) $((profile_seconds % 3600 / 60)) $((profile_seconds % 60)))
  # Which server backends serve the application on sync1, and how often each runs (a pool effect shows here).
  backend_split "$profile_seconds" >"$out/profile-$profile_variant.backends" &
  # Runtime counters (lock contention, thread pool, GC, timers) and Npgsql's pool counters (idle/busy connections).
  dotnet-counters collect -p "$pid" --duration "$span" --refresh-interval 1 --format csv \
    -o "$out/profile-$profile_variant.counters.csv" --counters System.Runtime,Npgsql >/dev/null
  # The default profile: sampled managed stacks of every thread (CPU_TIME leaves are running code), as speedscope JSON.
  dotnet-trace collect -p "$pid" --duration "$span" --format Speedscope -o "$out/profile-$profile_variant.nettrace" >/dev/null
  wait "$runner" || true
  cat "$log" "$out/profile-$profile_variant.backends"
  # Where the CPU went: RoutingSdk's own code, the monitor, EF Core and Npgsql (shares of all sampled CPU time).
  python3 scripts/lib/profile-summary.py "$out/profile-$profile_variant.speedscope.json" || echo "bench.sh: profile summary failed (python3 needed)" >&2
  echo "bench.sh: counters in $out/profile-$profile_variant.counters.csv, CPU samples in $out/profile-$profile_variant.speedscope.json" >&2
fi

if [[ $what == all || $what == analyzer ]]; then
  bash scripts/bench-analyzer.sh | tee "$out/analyzer.log"
fi
