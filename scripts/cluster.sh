#!/usr/bin/env bash
# RoutingSdk local read-pool topology: primary + sync1 + sync2 (synchronous, remote_apply, ANY 2)
# + async1 (asynchronous, delayed apply) + HAProxy (write VIP, read VIP with the primary as backup).
# The small shape (ROUTING_CLUSTER_SHAPE=small) is primary + sync1 only (remote_apply, ANY 1), without HAProxy.
#
#   scripts/cluster.sh start|stop|status|destroy|env|stop-node NAME|start-node NAME|pause-node NAME|resume-node NAME
#
# Environment:
#   ROUTING_CLUSTER_SHAPE       full (default): primary, sync1, sync2, async1, HAProxy; small: primary, sync1.
#                               Recorded in the data directory when the cluster is built: later commands must use the
#                               same shape (destroy accepts any and deletes what is there).
#   ROUTING_PG_PORT_BASE        first port (default 15430): primary, sync1, sync2, async1, write VIP, read VIP
#                               (small: primary, sync1)
#   ROUTING_CLUSTER_DIR         data directory (default <repo>/.cluster)
#   ROUTING_ASYNC_APPLY_DELAY   recovery_min_apply_delay of async1 (default 2s; full shape only)
#   ROUTING_PG_USER / ROUTING_PG_PASSWORD / ROUTING_PG_DATABASE  application login (default routing/routing/routing)
#
# Run as root it installs the missing Debian packages (postgresql, and haproxy for the full shape) and runs every
# daemon as the `postgres` OS user, because PostgreSQL refuses to run as root. Run as another user it runs them as that
# user.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
BASE=${ROUTING_PG_PORT_BASE:-15430}
DIR=${ROUTING_CLUSTER_DIR:-$repo_root/.cluster}
ASYNC_DELAY=${ROUTING_ASYNC_APPLY_DELAY:-2s}
APP_USER=${ROUTING_PG_USER:-routing}
APP_PASSWORD=${ROUTING_PG_PASSWORD:-routing}
APP_DB=${ROUTING_PG_DATABASE:-routing}

SHAPE=${ROUTING_CLUSTER_SHAPE:-full}

# The shape's nodes, replicas, synchronous replicas and the quorum the primary waits for; ENDPOINTS adds the VIPs.
set_shape() { # full|small
  SHAPE=$1
  case "$SHAPE" in
    full)
      NODES=(primary sync1 sync2 async1); REPLICAS=(sync1 sync2 async1); SYNC_REPLICAS=(sync1 sync2)
      ENDPOINTS=("${NODES[@]}" write_vip read_vip); SYNC_STANDBY_NAMES='ANY 2 (sync1, sync2)'; PORT_COUNT=6 ;;
    small)
      NODES=(primary sync1); REPLICAS=(sync1); SYNC_REPLICAS=(sync1)
      ENDPOINTS=("${NODES[@]}"); SYNC_STANDBY_NAMES='ANY 1 (sync1)'; PORT_COUNT=2 ;;
    *)
      echo "cluster.sh: ROUTING_CLUSTER_SHAPE must be 'full' (primary, sync1, sync2, async1, HAProxy; the default) or 'small' (primary, sync1) (was '$SHAPE')." >&2
      exit 2 ;;
  esac
}
set_shape "$SHAPE"
has_haproxy() { [[ $SHAPE == full ]]; }

if ! [[ "$BASE" =~ ^[0-9]+$ ]] || (( BASE < 1024 || BASE > 65529 )); then
  echo "cluster.sh: ROUTING_PG_PORT_BASE must be a number between 1024 and 65529 (was '$BASE')." >&2
  exit 2
fi

in_shape() { [[ " ${ENDPOINTS[*]} " == *" $1 "* ]]; }

# Why NAME is no endpoint (kind: node, or endpoint for VIPs too) of this shape: one of the full shape's is named as
# such, not as unknown.
not_in_shape() { # kind name
  local full_ones='primary sync1 sync2 async1'
  [[ $1 == endpoint ]] && full_ones+=' write_vip read_vip'
  if [[ " $full_ones " == *" $2 "* ]]; then
    echo "$2 is not part of the $SHAPE shape (ROUTING_CLUSTER_SHAPE=$SHAPE has: ${ENDPOINTS[*]}); only the full shape (ROUTING_CLUSTER_SHAPE=full, the default) has it."
  else
    echo "unknown node '$2' (expected one of: ${NODES[*]})"
  fi
}

# Exits with an error unless NAME is a PostgreSQL node of this shape.
require_node() { # name
  [[ " ${NODES[*]} " == *" $1 "* ]] || { echo "cluster.sh: error: $(not_in_shape node "$1")" >&2; exit 2; }
}

port_of() {
  in_shape "$1" || { echo "cluster.sh: $(not_in_shape endpoint "$1")" >&2; return 2; }
  case "$1" in
    primary) echo $((BASE)) ;; sync1) echo $((BASE + 1)) ;; sync2) echo $((BASE + 2)) ;;
    async1) echo $((BASE + 3)) ;; write_vip) echo $((BASE + 4)) ;; read_vip) echo $((BASE + 5)) ;;
    *) echo "cluster.sh: unknown node '$1' (expected one of: ${NODES[*]})" >&2; return 2 ;;
  esac
}

log() { echo "cluster.sh: $*" >&2; }
die() { echo "cluster.sh: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites
PG_ROOT=${ROUTING_PG_ROOT:-/usr/lib/postgresql}
find_pg_bin() {
  local d
  for d in $(ls -d "$PG_ROOT"/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_basebackup" && -x "$d/postgres" ]] && { echo "$d"; return 0; }
  done
  if [[ -z "${ROUTING_PG_ROOT:-}" ]] && command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    [[ -x "$d/initdb" && -x "$d/pg_basebackup" ]] && { echo "$d"; return 0; }
  fi
  return 1
}

ensure_packages() {
  local missing=()
  find_pg_bin >/dev/null || missing+=(postgresql)
  has_haproxy && ! [[ -x "$(haproxy_bin)" ]] && missing+=(haproxy)
  # ss names the program holding a port (check_ports_free); without it the check can only say "taken".
  [[ $(id -u) -eq 0 ]] && ! command -v ss >/dev/null 2>&1 && missing+=(iproute2)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]} (or run this script as root, which installs them)."
  fi
  log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed; install ${missing[*]} by hand and retry."
  apt-get install -y -qq --no-install-recommends "${missing[@]}" postgresql-contrib >&2 \
    || die "apt-get install ${missing[*]} failed; install them by hand and retry."
  # Debian's packages start their own default services; we do not use them.
  if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now haproxy >/dev/null 2>&1 || true
  fi
  pkill -x haproxy -u root >/dev/null 2>&1 || true
}

haproxy_bin() { echo "${ROUTING_HAPROXY_BIN:-$(command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy)}"; }
HAPROXY_BIN=
PGBIN=
init_bins() {
  ensure_packages
  PGBIN=$(find_pg_bin) || die "PostgreSQL server binaries not found; install the 'postgresql' package."
  HAPROXY_BIN=$(haproxy_bin)
}

# Run a command as the daemon user. The lock descriptor (9) is closed so it never leaks into daemons.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@" 9>&-
  else
    "$@" 9>&-
  fi
}

psql_node() { # node sql...
  local port; port=$(port_of "$1"); shift
  as_owner "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

# port_holder PORT: the program holding a port (scripts/lib/ports.sh, shared with the other cluster script).
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"

# A node runs when its postmaster.pid names a live, non-zombie process.
node_pid() {
  local pidfile="$DIR/$1/postmaster.pid" pid state
  [[ -f "$pidfile" ]] || return 1
  pid=$(head -n1 "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != "Z" ]] || return 1
  echo "$pid"
}
node_running() { node_pid "$1" >/dev/null; }

haproxy_pid() {
  local pid state
  [[ -f "$DIR/haproxy.pid" ]] || return 1
  pid=$(head -n1 "$DIR/haproxy.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != "Z" ]] || return 1
  echo "$pid"
}

print_log_tails() {
  local f
  for f in "$DIR"/logs/*.log; do
    [[ -f "$f" ]] || continue
    echo "----- last lines of $f" >&2
    tail -n 25 "$f" >&2 || true
  done
}

# ---------------------------------------------------------------- shape
# The shape a data directory was built with ($DIR/shape, written before initdb); nothing when no cluster is built
# there. A cluster built before shapes existed has no such file and is a full one.
recorded_shape() {
  [[ -f "$DIR/primary/PG_VERSION" ]] || return 0
  if [[ -f "$DIR/shape" ]]; then head -n1 "$DIR/shape"; else echo full; fi
}

# Another shape on the same directory would find nodes missing or extra ones left running, and the primary's quorum
# and slots wrong: refuse, naming both ways out.
check_shape() {
  local recorded
  recorded=$(recorded_shape)
  [[ -z "$recorded" || "$recorded" == "$SHAPE" ]] && return 0
  die "$DIR holds a $recorded cluster, but ROUTING_CLUSTER_SHAPE is '$SHAPE'. Set ROUTING_CLUSTER_SHAPE=$recorded to use it, or run 'scripts/cluster.sh destroy' (deletes its data) and start again to build a $SHAPE one (or choose another ROUTING_CLUSTER_DIR and ports)."
}

record_shape() { echo "$SHAPE" | as_owner tee "$DIR/shape" >/dev/null; }

# ---------------------------------------------------------------- setup
prepare_dir() {
  mkdir -p "$DIR"
  # The daemon user must reach the data directory through every parent directory.
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$DIR"
    if ! runuser -u postgres -- test -w "$DIR"; then
      die "the postgres user cannot write $DIR (a parent directory is not traversable). Set ROUTING_CLUSTER_DIR to a directory it can reach, e.g. /tmp/routing-cluster."
    fi
  fi
  as_owner mkdir -p "$DIR/logs" "$DIR/sock"
}

primary_conf() {
  local port; port=$(port_of primary)
  cat <<EOF

# ---- RoutingSdk local topology (scripts/cluster.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR/sock'
cluster_name = 'primary'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
hot_standby = on
synchronous_commit = remote_apply
shared_buffers = 64MB
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
# A throw-away test cluster: durability of the local disk is not what it tests.
fsync = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

primary_hba() {
  cat <<EOF
local   all          all                      trust
host    replication  postgres  127.0.0.1/32   trust
host    all          postgres  127.0.0.1/32   trust
host    all          all       127.0.0.1/32   scram-sha-256
EOF
}

replica_conf() { # name
  local name=$1 port; port=$(port_of "$1")
  cat <<EOF

# ---- RoutingSdk replica overrides (scripts/cluster.sh)
port = $port
cluster_name = '$name'
primary_slot_name = '$name'
primary_conninfo = 'host=127.0.0.1 port=$(port_of primary) user=postgres application_name=$name'
hot_standby = on
EOF
  if [[ "$name" == async1 ]]; then
    cat <<EOF
hot_standby_feedback = off
recovery_min_apply_delay = '$ASYNC_DELAY'
EOF
  else
    cat <<EOF
hot_standby_feedback = on
max_standby_streaming_delay = 1s
EOF
  fi
}

start_node() { # name
  local name=$1
  node_running "$name" && return 0
  as_owner "$PGBIN/pg_ctl" -D "$DIR/$name" -l "$DIR/logs/$name.log" -w -t 60 start >/dev/null \
    || { print_log_tails; die "node $name did not start (see the log above)."; }
}

stop_node() { # name
  local name=$1
  node_running "$name" || return 0
  as_owner "$PGBIN/pg_ctl" -D "$DIR/$name" -m fast -w -t 60 stop >/dev/null 2>&1 \
    || as_owner "$PGBIN/pg_ctl" -D "$DIR/$name" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

write_haproxy_cfg() {
  cat >"$DIR/haproxy.cfg" <<EOF
# RoutingSdk local topology: HAProxy in TCP mode, as in the vendor's section 5.
global
    maxconn 4000
    pidfile $DIR/haproxy.pid

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    option tcpka
    retries 2

# WritePool: the master only.
frontend write_vip
    bind 127.0.0.1:$(port_of write_vip)
    default_backend primary_backend

# The checks log in as a role that has no 'trust' entry (pg_hba: scram-sha-256; the role need not exist): the server
# answers the start-up packet with its authentication request, which is all pgsql-check waits for, and the check ends
# there. As 'postgres' (trusted) every check was a full login that loaded the catalog caches: about 80 ms of the
# primary's CPU per second for four checks a second, more than a whole idle application costs it. Even stopped at
# the authentication request, each check forks a backend (about 20 ms of CPU on a small VM), so the primary is checked
# at HAProxy's default interval (2 s): nothing fails over behind this write VIP (no Patroni in this topology).
backend primary_backend
    option pgsql-check user haproxy_check
    server primary 127.0.0.1:$(port_of primary) check inter 2s fall 2 rise 1

# ReadPool: round robin over the synchronous replicas, the master as backup when both are down.
frontend read_vip
    bind 127.0.0.1:$(port_of read_vip)
    default_backend replicas_backend

# The backup primary follows the write VIP's check of the same server (track) instead of checking it a second time.
backend replicas_backend
    balance roundrobin
    option pgsql-check user haproxy_check
    default-server inter 500 fall 2 rise 1 on-marked-down shutdown-sessions
    server sync1 127.0.0.1:$(port_of sync1) check
    server sync2 127.0.0.1:$(port_of sync2) check
    server primary 127.0.0.1:$(port_of primary) backup track primary_backend/primary
EOF
}

start_haproxy() {
  haproxy_pid >/dev/null && return 0
  write_haproxy_cfg
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DIR/haproxy.cfg"
  # Not -q: quiet mode hides HAProxy's alerts too (a port it cannot bind, a bad line), and the reason it did not start
  # belongs in the error. No -p: the configuration names the pid file (both at once is itself an alert).
  local out reason
  out=$(as_owner "$HAPROXY_BIN" -D -f "$DIR/haproxy.cfg" 2>&1) && { [[ -z "$out" ]] || printf '%s\n' "$out" >>"$DIR/logs/haproxy.log"; return 0; }
  printf '%s\n' "$out" >>"$DIR/logs/haproxy.log"
  reason=$(grep -F '[ALERT]' <<<"$out" | sed -E 's/^\[ALERT\] *\([0-9]+\) *: *//' | head -n 3 | paste -sd'|' - | sed 's/|/; /g')
  # Nothing said at start: the configuration check names a problem in the file, if that is the cause.
  [[ -n "$reason" ]] || reason=$(as_owner "$HAPROXY_BIN" -c -f "$DIR/haproxy.cfg" 2>&1 | grep -v NOTICE | head -n 3 | paste -sd'|' - | sed 's/|/; /g')
  print_log_tails
  die "HAProxy did not start: ${reason:-it exited without a message} (output in $DIR/logs/haproxy.log)."
}

stop_haproxy() {
  local pid
  pid=$(haproxy_pid) || { rm -f "$DIR/haproxy.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do haproxy_pid >/dev/null || break; sleep 0.1; done
  haproxy_pid >/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$DIR/haproxy.pid"
}

warn_ephemeral_range() {
  local low high
  read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
  if (( BASE + PORT_COUNT - 1 >= low && BASE <= high )); then
    log "note: ports $BASE..$((BASE + PORT_COUNT - 1)) lie in the kernel's ephemeral range ($low-$high); a client socket may hold one when a node restarts. Choose ROUTING_PG_PORT_BASE below $low for test runs that stop and start nodes."
  fi
}

check_ports_free() {
  local n p who taken=()
  for n in "${NODES[@]}"; do
    node_running "$n" && continue
    p=$(port_of "$n"); who=$(port_holder "$p") && taken+=("$p ($n) held by $who")
  done
  if has_haproxy && ! haproxy_pid >/dev/null; then
    for n in write_vip read_vip; do p=$(port_of "$n"); who=$(port_holder "$p") && taken+=("$p ($n) held by $who"); done
  fi
  if ((${#taken[@]} > 0)); then
    die "port(s) already in use: $(IFS=";"; echo "${taken[*]}" | sed "s/;/; /g"). Stop that program or choose other ports with ROUTING_PG_PORT_BASE=<base> ($PORT_COUNT consecutive ports are used)."
  fi
}

build_cluster() {
  if has_haproxy; then
    log "creating a new cluster in $DIR (ports $BASE..$((BASE + PORT_COUNT - 1)))"
  else
    log "creating a new $SHAPE cluster (${NODES[*]}) in $DIR (ports $BASE..$((BASE + PORT_COUNT - 1)))"
  fi
  record_shape # before initdb: a directory with a primary always says its shape
  as_owner "$PGBIN/initdb" -D "$DIR/primary" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$DIR/logs/initdb.log" 2>&1 \
    || as_owner "$PGBIN/initdb" -D "$DIR/primary" -U postgres -A trust -E UTF8 --locale=C >"$DIR/logs/initdb.log" 2>&1 \
    || { cat "$DIR/logs/initdb.log" >&2; die "initdb failed."; }
  primary_conf | as_owner tee -a "$DIR/primary/postgresql.conf" >/dev/null
  primary_hba | as_owner tee "$DIR/primary/pg_hba.conf" >/dev/null
  start_node primary
  psql_node primary >/dev/null <<SQL
CREATE ROLE "$APP_USER" LOGIN SUPERUSER PASSWORD '$APP_PASSWORD';
CREATE DATABASE "$APP_DB" OWNER "$APP_USER";
SELECT pg_create_physical_replication_slot(s) FROM unnest(string_to_array('${REPLICAS[*]}', ' ')) s;
SQL
  as_owner "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$BASE" -U postgres -d "$APP_DB" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
  # Slots exist before the parallel base backups, so WAL the replicas need is kept.
  local r pids=()
  for r in "${REPLICAS[@]}"; do
    as_owner "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$BASE" -U postgres -D "$DIR/$r" -X stream -S "$r" -R --checkpoint=fast \
      >"$DIR/logs/basebackup-$r.log" 2>&1 &
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  ((failed == 0)) || { print_log_tails; die "pg_basebackup failed."; }
  for r in "${REPLICAS[@]}"; do
    replica_conf "$r" | as_owner tee -a "$DIR/$r/postgresql.conf" >/dev/null
    # pg_basebackup -R wrote its own primary_conninfo; ours (with application_name) must win.
    as_owner sed -i '/^primary_conninfo/d' "$DIR/$r/postgresql.auto.conf"
  done
}

# Whether each named replica appears as NAME=VALUE (VALUE a regex) in a comma-separated pg_stat_replication summary.
# Matched between commas: "async1=streaming" must not pass for sync1.
all_replicas_are() { # summary value-regex replicas...
  local summary=",$1," value=$2 r; shift 2
  for r in "$@"; do [[ "$summary" =~ ,$r=($value), ]] || return 1; done
}

wait_ready() {
  local deadline=$((SECONDS + ${ROUTING_CLUSTER_READY_TIMEOUT:-90})) states vip_ok
  # Quorum is set only once the replicas stream; before that, setup statements would wait forever.
  while :; do
    states=$(psql_node primary -c "SELECT string_agg(application_name || '=' || state, ',' ORDER BY application_name) FROM pg_stat_replication" 2>/dev/null || true)
    all_replicas_are "$states" streaming "${SYNC_REPLICAS[@]}" && break
    ((SECONDS > deadline)) && { print_log_tails; die "replicas did not start streaming (pg_stat_replication: '$states')."; }
    sleep 0.2
  done
  local current sync_list
  sync_list=$(IFS=/; echo "${SYNC_REPLICAS[*]}")
  ((${#SYNC_REPLICAS[@]} > 1)) && sync_list+=" are" || sync_list+=" is"
  current=$(psql_node primary -c "SHOW synchronous_standby_names")
  if [[ "$current" != "$SYNC_STANDBY_NAMES" ]]; then
    psql_node primary -c "ALTER SYSTEM SET synchronous_standby_names = '$SYNC_STANDBY_NAMES'" -c "SELECT pg_reload_conf()" >/dev/null
  fi
  while :; do
    states=$(psql_node primary -c "SELECT string_agg(application_name || '=' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication" 2>/dev/null || true)
    if all_replicas_are "$states" 'sync|quorum' "${SYNC_REPLICAS[@]}"; then
      if ! in_shape async1 || all_replicas_are "$states" async async1; then break; fi
    fi
    ((SECONDS > deadline)) && { print_log_tails; die "$sync_list not synchronous (pg_stat_replication: '$states')."; }
    sleep 0.2
  done
  has_haproxy || return 0
  while :; do
    vip_ok=1
    as_owner "$PGBIN/psql" -X -q -A -t -h 127.0.0.1 -p "$(port_of write_vip)" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 || vip_ok=0
    as_owner "$PGBIN/psql" -X -q -A -t -h 127.0.0.1 -p "$(port_of read_vip)" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 || vip_ok=0
    ((vip_ok == 1)) && break
    ((SECONDS > deadline)) && { print_log_tails; die "HAProxy VIPs do not answer."; }
    sleep 0.2
  done
}

cmd_start() {
  init_bins
  prepare_dir
  exec 9>"$DIR/.lock"
  flock -w 120 9 || die "another cluster.sh holds $DIR/.lock."
  check_ports_free
  warn_ephemeral_range
  local started_here=()
  trap 'rc=$?; if ((rc != 0)); then log "start failed; stopping what this run started"; for n in "${started_here[@]}"; do [[ $n == haproxy ]] && stop_haproxy || stop_node "$n"; done; fi' EXIT
  if [[ ! -f "$DIR/primary/PG_VERSION" ]]; then
    if [[ -e "$DIR/sync1" || -e "$DIR/sync2" || -e "$DIR/async1" ]]; then
      die "$DIR holds replicas but no primary; run 'scripts/cluster.sh destroy' and start again."
    fi
    started_here+=(primary)
    build_cluster
  elif [[ ! -f "$DIR/shape" ]]; then
    record_shape # built before shapes were recorded: a full cluster (check_shape let only full through)
  fi
  local n
  for n in "${NODES[@]}"; do
    [[ -f "$DIR/$n/PG_VERSION" ]] || die "node $n is missing from $DIR; run 'scripts/cluster.sh destroy' and start again."
    node_running "$n" || { started_here+=("$n"); start_node "$n"; }
  done
  if has_haproxy; then haproxy_pid >/dev/null || { started_here+=(haproxy); start_haproxy; }; fi
  wait_ready
  trap - EXIT
  local ready=()
  for n in "${ENDPOINTS[@]}"; do ready+=("$n=$(port_of "$n")"); done
  log "ready: ${ready[*]}"
}

cmd_stop() {
  [[ -d "$DIR" ]] || return 0
  PGBIN=$(find_pg_bin) || return 0
  if has_haproxy; then stop_haproxy; fi
  local n
  for n in primary "${REPLICAS[@]}"; do stop_node "$n"; done
}

cmd_status() {
  local n rc=0
  PGBIN=$(find_pg_bin) || die "PostgreSQL is not installed (package 'postgresql')."
  for n in "${NODES[@]}"; do
    if node_running "$n"; then
      echo "$n: running on 127.0.0.1:$(port_of "$n") (pid $(node_pid "$n"), in recovery: $(psql_node "$n" -c 'SELECT pg_is_in_recovery()' 2>/dev/null || echo '?'))"
    else
      echo "$n: stopped"; rc=3
    fi
  done
  if ! has_haproxy; then
    : # the small shape has no HAProxy
  elif haproxy_pid >/dev/null; then
    echo "haproxy: running (write VIP 127.0.0.1:$(port_of write_vip), read VIP 127.0.0.1:$(port_of read_vip))"
  else
    echo "haproxy: stopped"; rc=3
  fi
  if node_running primary; then
    echo "replication: $(psql_node primary -c "SELECT string_agg(application_name || '=' || sync_state, ', ' ORDER BY application_name) FROM pg_stat_replication" 2>/dev/null)"
  fi
  return $rc
}

# Destroy is the way out of a shape mismatch (check_shape), so it takes any shape: it stops the one recorded.
cmd_destroy() {
  local recorded
  recorded=$(recorded_shape)
  if [[ -n "$recorded" && "$recorded" != "$SHAPE" ]]; then
    log "note: $DIR holds a $recorded cluster (ROUTING_CLUSTER_SHAPE is '$SHAPE'); destroying it all the same."
    set_shape "$recorded"
  fi
  cmd_stop
  rm -rf "$DIR"
  log "destroyed $DIR"
}

conn() { # port
  echo "Host=127.0.0.1;Port=$1;Username=$APP_USER;Password=$APP_PASSWORD;Database=$APP_DB"
}

cmd_env() {
  echo "PRIMARY=$(conn "$(port_of primary)")"
  echo "SYNC1=$(conn "$(port_of sync1)")"
  has_haproxy || return 0 # the small shape: primary and sync1 only
  echo "SYNC2=$(conn "$(port_of sync2)")"
  echo "ASYNC1=$(conn "$(port_of async1)")"
  echo "READ_VIP=$(conn "$(port_of read_vip)")"
  echo "WRITE_VIP=$(conn "$(port_of write_vip)")"
}

cmd_node() { # stop|start name
  local action=$1 name=${2:-}
  [[ -n "$name" ]] || die "usage: cluster.sh $action-node <${NODES[*]// /|}>"
  require_node "$name"
  PGBIN=$(find_pg_bin) || die "PostgreSQL is not installed (package 'postgresql')."
  [[ -f "$DIR/$name/PG_VERSION" ]] || die "no cluster in $DIR; run 'scripts/cluster.sh start' first."
  if [[ $action == stop ]]; then stop_node "$name"; return 0; fi
  start_node "$name"
  [[ $name == primary ]] && return 0
  local deadline=$((SECONDS + 60)) state want='streaming'
  while :; do
    state=$(psql_node primary -c "SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '$name'" 2>/dev/null || true)
    if [[ $name == async1 ]]; then [[ "$state" == streaming/* ]] && break
    else [[ "$state" =~ ^streaming/(sync|quorum)$ ]] && break; fi
    ((SECONDS > deadline)) && die "$name started but does not stream from the primary (state: '${state:-absent}')."
    sleep 0.1
  done
}

# Freezes (SIGSTOP) or thaws (SIGCONT) every process of one node: the postmaster and all its children. What a VM
# freeze, a storage stall or a partition without resets looks like to clients: connections stay open, nothing answers.
cmd_signal() { # STOP|CONT name
  local signal=$1 name=${2:-} pid children
  [[ -n "$name" ]] || die "usage: cluster.sh pause-node|resume-node <${NODES[*]// /|}>"
  require_node "$name"
  [[ -f "$DIR/$name/postmaster.pid" ]] || die "$name is not running (no $DIR/$name/postmaster.pid)."
  pid=$(head -1 "$DIR/$name/postmaster.pid")
  children=$(grep -l "^PPid:[[:space:]]*$pid\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3 || true)
  # Children first on STOP (none acts on a frozen parent), the postmaster first on CONT.
  if [[ $signal == STOP ]]; then kill -STOP $children "$pid"; else kill -CONT "$pid" $children; fi
}

case "${1:-}" in
  start) check_shape; cmd_start ;;
  stop) check_shape; cmd_stop ;;
  status) check_shape; cmd_status ;;
  destroy) cmd_destroy ;;
  env) check_shape; cmd_env ;;
  stop-node) check_shape; cmd_node stop "${2:-}" ;;
  start-node) check_shape; cmd_node start "${2:-}" ;;
  pause-node) check_shape; cmd_signal STOP "${2:-}" ;;
  resume-node) check_shape; cmd_signal CONT "${2:-}" ;;
  *) echo "usage: cluster.sh start|stop|status|destroy|env|stop-node NAME|start-node NAME|pause-node NAME|resume-node NAME" >&2; exit 2 ;;
esac
