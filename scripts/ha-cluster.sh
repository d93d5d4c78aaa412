#!/usr/bin/env bash
# RoutingSdk local high-availability topology: one etcd member + three Patroni-managed PostgreSQL nodes
# (node1..node3: a leader and two synchronous standbys, remote_apply) + HAProxy with a write VIP (Patroni's
# GET /primary check) and a read VIP (GET /replica check, the write VIP as backup).
#
#   scripts/ha-cluster.sh start|stop|status|destroy|env|kill-leader|switchover|stop-node NAME|start-node NAME|leader
#
# Environment:
#   ROUTING_HA_PORT_BASE   first port (default 15450): node1..3 PostgreSQL (+0..+2), node1..3 Patroni REST (+3..+5),
#                          etcd client (+6), etcd peer (+7), write VIP (+8), read VIP (+9)
#   ROUTING_HA_DIR         data directory (default <repo>/.ha-cluster)
#   ROUTING_PG_USER / ROUTING_PG_PASSWORD / ROUTING_PG_DATABASE  application login (default routing/routing/routing)
#
# Run as root it installs the missing Debian packages (postgresql, patroni, etcd-server, haproxy) and runs every
# daemon as the `postgres` OS user (PostgreSQL and Patroni refuse root). Run as another user it runs them as that user.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
BASE=${ROUTING_HA_PORT_BASE:-15450}
DIR=${ROUTING_HA_DIR:-$repo_root/.ha-cluster}
APP_USER=${ROUTING_PG_USER:-routing}
APP_PASSWORD=${ROUTING_PG_PASSWORD:-routing}
APP_DB=${ROUTING_PG_DATABASE:-routing}
SCOPE=routing-ha
NODES=(node1 node2 node3)
PY=/usr/bin/python3

if ! [[ "$BASE" =~ ^[0-9]+$ ]] || (( BASE < 1024 || BASE > 65525 )); then
  echo "ha-cluster.sh: ROUTING_HA_PORT_BASE must be a number between 1024 and 65525 (was '$BASE')." >&2
  exit 2
fi

log() { echo "ha-cluster.sh: $*" >&2; }
die() { echo "ha-cluster.sh: error: $*" >&2; exit 1; }

node_index() {
  case "$1" in
    node1) echo 0 ;; node2) echo 1 ;; node3) echo 2 ;;
    *) echo "ha-cluster.sh: unknown node '$1' (expected one of: ${NODES[*]})" >&2; return 2 ;;
  esac
}
pg_port() { echo $((BASE + $(node_index "$1"))); }
rest_port() { echo $((BASE + 3 + $(node_index "$1"))); }
ETCD_PORT=$((BASE + 6))
ETCD_PEER_PORT=$((BASE + 7))
WRITE_VIP=$((BASE + 8))
READ_VIP=$((BASE + 9))

# ---------------------------------------------------------------- prerequisites
find_pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/postgres" && -x "$d/pg_rewind" ]] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_packages() {
  local missing=()
  find_pg_bin >/dev/null || missing+=(postgresql)
  command -v patroni >/dev/null 2>&1 || missing+=(patroni)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
  # ss names the program holding a port (check_ports_free); without it the check can only say "taken".
  [[ $(id -u) -eq 0 ]] && ! command -v ss >/dev/null 2>&1 && missing+=(iproute2)
  [[ -x $PY ]] || missing+=(python3)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]} (or run this script as root, which installs them)."
  fi
  log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed; install ${missing[*]} by hand and retry."
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed; install them by hand and retry."
  # Debian's packages may start default services; this topology runs its own daemons.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now etcd haproxy patroni >/dev/null 2>&1 || true
  fi
  pkill -x etcd -u root >/dev/null 2>&1 || true
}

PGBIN=
HAPROXY_BIN=
init_bins() {
  ensure_packages
  PGBIN=$(find_pg_bin) || die "PostgreSQL server binaries not found; install the 'postgresql' package."
  HAPROXY_BIN=$(command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy)
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@" 9>&-
  else
    "$@" 9>&-
  fi
}

# port_holder PORT: the program holding a port (scripts/lib/ports.sh, shared with the other cluster script).
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"

# A daemon runs when its pid file names a live, non-zombie process.
pid_alive() { # pidfile
  local pid state
  [[ -f "$1" ]] || return 1
  pid=$(head -n1 "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != "Z" ]] || return 1
  echo "$pid"
}
# By pid file, else by command line (a pid file lost with a wiped data directory must not leave a daemon behind).
patroni_pid() { pid_alive "$DIR/$1.patroni.pid" || pgrep -f -x "/usr/bin/python3 /usr/bin/patroni $DIR/$1.yml" | head -n1 | grep .; }
postmaster_pid() { pid_alive "$DIR/$1/postmaster.pid"; }
etcd_pid() { pid_alive "$DIR/etcd.pid" || pgrep -f "etcd --name routing --data-dir $DIR/etcd" | head -n1 | grep .; }
haproxy_pid() { pid_alive "$DIR/haproxy.pid" || pgrep -f "haproxy (-q )?-D -f $DIR/haproxy.cfg" | head -n1 | grep .; }

print_log_tails() {
  local f
  for f in "$DIR"/logs/*.log; do
    [[ -f "$f" ]] || continue
    echo "----- last lines of $f" >&2
    tail -n 20 "$f" >&2 || true
  done
}

# GET a Patroni REST URL; prints the body, or fails.
api_get() { # url
  "$PY" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.stdout.write(r.read().decode())
except Exception as e:
    sys.exit(1)
PY
}

# The cluster as Patroni's members see it: "name role state lag" lines, from the first node that answers.
cluster_members() {
  local n body
  for n in "${NODES[@]}"; do
    body=$(api_get "http://127.0.0.1:$(rest_port "$n")/cluster" 2>/dev/null) || continue
    "$PY" -c '
import json, sys
for m in json.loads(sys.argv[1]).get("members", []):
    print(m["name"], m.get("role", "?"), m.get("state", "?"), m.get("lag", 0))
' "$body" && return 0
  done
  return 1
}

current_leader() { cluster_members 2>/dev/null | awk '$2 == "leader" && ($3 == "running" || $3 == "streaming") {print $1; exit}'; }

# ---------------------------------------------------------------- configuration
prepare_dir() {
  mkdir -p "$DIR"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$DIR"
    runuser -u postgres -- test -w "$DIR" \
      || die "the postgres user cannot write $DIR (a parent directory is not traversable). Set ROUTING_HA_DIR to a directory it can reach, e.g. /tmp/routing-ha."
  fi
  as_owner mkdir -p "$DIR/logs" "$DIR/sock"
  as_owner chmod 700 "$DIR/sock"
}

patroni_yml() { # node
  local n=$1
  cat <<EOF
# RoutingSdk local HA topology (scripts/ha-cluster.sh)
scope: $SCOPE
namespace: /routing/
name: $n
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:$(rest_port "$n")
  connect_address: 127.0.0.1:$(rest_port "$n")
etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_node_count: 2
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        synchronous_commit: remote_apply
        hot_standby_feedback: 'on'
        max_standby_streaming_delay: 1s
        wal_level: replica
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        max_connections: 200
        shared_buffers: 64MB
        fsync: 'off'
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
  pg_hba:
    - local all all trust
    - host replication postgres 127.0.0.1/32 trust
    - host all postgres 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:$(pg_port "$n")
  connect_address: 127.0.0.1:$(pg_port "$n")
  data_dir: $DIR/$n
  bin_dir: $PGBIN
  pgpass: $DIR/pgpass-$n
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: $DIR/sock
    cluster_name: $n
    log_min_messages: warning
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
}

write_haproxy_cfg() {
  local n
  {
    cat <<EOF
# RoutingSdk local HA topology: HAProxy in TCP mode with Patroni's REST API as the health check.
global
    maxconn 4000
    pidfile $DIR/haproxy.pid

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 1s
    option tcpka
    retries 2

# Write VIP: only the member that answers 200 on GET /primary (the leader).
frontend write_vip
    bind 127.0.0.1:$WRITE_VIP
    default_backend leader

backend leader
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500 fall 2 rise 1 on-marked-down shutdown-sessions
EOF
    for n in "${NODES[@]}"; do echo "    server $n 127.0.0.1:$(pg_port "$n") check port $(rest_port "$n")"; done
    cat <<EOF

# Read VIP: round robin over the members that answer 200 on GET /replica; the leader (through the write VIP) as backup.
frontend read_vip
    bind 127.0.0.1:$READ_VIP
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /replica
    http-check expect status 200
    default-server inter 500 fall 2 rise 1 on-marked-down shutdown-sessions
EOF
    for n in "${NODES[@]}"; do echo "    server $n 127.0.0.1:$(pg_port "$n") check port $(rest_port "$n")"; done
    echo "    server leader 127.0.0.1:$WRITE_VIP backup"
  } >"$DIR/haproxy.cfg"
}

# ---------------------------------------------------------------- daemons
start_etcd() {
  etcd_pid >/dev/null && return 0
  as_owner mkdir -p "$DIR/etcd"
  # exec keeps the pid written by the shell as the daemon's own pid.
  as_owner setsid -f bash -c "echo \$\$ > '$DIR/etcd.pid'; exec etcd --name routing --data-dir '$DIR/etcd' \
    --listen-client-urls http://127.0.0.1:$ETCD_PORT --advertise-client-urls http://127.0.0.1:$ETCD_PORT \
    --listen-peer-urls http://127.0.0.1:$ETCD_PEER_PORT --initial-advertise-peer-urls http://127.0.0.1:$ETCD_PEER_PORT \
    --initial-cluster routing=http://127.0.0.1:$ETCD_PEER_PORT --log-level warn >>'$DIR/logs/etcd.log' 2>&1" </dev/null >/dev/null 2>&1
  local deadline=$((SECONDS + 30))
  until api_get "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; do
    ((SECONDS > deadline)) && { print_log_tails; die "etcd did not become healthy on 127.0.0.1:$ETCD_PORT."; }
    sleep 0.2
  done
}

start_patroni() { # node
  local n=$1
  patroni_pid "$n" >/dev/null && return 0
  patroni_yml "$n" | as_owner tee "$DIR/$n.yml" >/dev/null
  as_owner setsid -f bash -c "echo \$\$ > '$DIR/$n.patroni.pid'; exec patroni '$DIR/$n.yml' >>'$DIR/logs/$n.log' 2>&1" </dev/null >/dev/null 2>&1
  local deadline=$((SECONDS + 20))
  until patroni_pid "$n" >/dev/null; do
    ((SECONDS > deadline)) && { print_log_tails; die "Patroni of $n did not start."; }
    sleep 0.1
  done
}

stop_patroni() { # node
  local n=$1 pid
  pid=$(patroni_pid "$n") || { rm -f "$DIR/$n.patroni.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true # Patroni stops its PostgreSQL (fast) and leaves the DCS
  for _ in $(seq 1 300); do patroni_pid "$n" >/dev/null || break; sleep 0.1; done
  if patroni_pid "$n" >/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  if pid=$(postmaster_pid "$n"); then
    as_owner "$PGBIN/pg_ctl" -D "$DIR/$n" -m fast -w -t 30 stop >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$n.patroni.pid"
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

stop_pidfile_daemon() { # pidfile probe-function
  local pid
  pid=$("$2") || { rm -f "$1"; return 0; }
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

check_ports_free() {
  local taken=() n p who
  for n in "${NODES[@]}"; do
    patroni_pid "$n" >/dev/null && continue
    for p in "$(pg_port "$n")" "$(rest_port "$n")"; do who=$(port_holder "$p") && taken+=("$p ($n) held by $who"); done
  done
  if ! etcd_pid >/dev/null; then for p in $ETCD_PORT $ETCD_PEER_PORT; do who=$(port_holder "$p") && taken+=("$p (etcd) held by $who"); done; fi
  if ! haproxy_pid >/dev/null; then for p in $WRITE_VIP $READ_VIP; do who=$(port_holder "$p") && taken+=("$p (haproxy) held by $who"); done; fi
  ((${#taken[@]} == 0)) || die "port(s) already in use: $(IFS=";"; echo "${taken[*]}" | sed "s/;/; /g"). Stop that program or choose other ports with ROUTING_HA_PORT_BASE=<base> (10 consecutive ports are used)."
}

# Ready: a running leader and every other member a streaming sync standby, the app login present, the VIPs answering.
wait_ready() { # [timeout seconds]
  local deadline=$((SECONDS + ${1:-${ROUTING_HA_READY_TIMEOUT:-120}})) members leader syncs
  while :; do
    members=$(cluster_members 2>/dev/null || true)
    leader=$(awk '$2 == "leader" && $3 == "running" {print $1}' <<<"$members")
    syncs=$(awk '$2 == "sync_standby" && ($3 == "streaming" || $3 == "running") {c++} END {print c + 0}' <<<"$members")
    # The DCS may still list members of a previous run until their keys expire: ask the leader itself too.
    if [[ -n "$leader" && "$syncs" -ge 2 ]] && api_get "http://127.0.0.1:$(rest_port "$leader")/primary" >/dev/null 2>&1 \
      && as_owner "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(pg_port "$leader")" -U postgres -d postgres >/dev/null 2>&1 <<SQL
SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', '$APP_USER', '$APP_PASSWORD') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_USER') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$APP_DB', '$APP_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$APP_DB') \gexec
SQL
    then
      break
    fi
    ((SECONDS > deadline)) && { print_log_tails; die "no leader with two synchronous standbys (Patroni reports: $(tr '\n' ';' <<<"$members"))."; }
    sleep 0.5
  done
  local vip
  for vip in $WRITE_VIP $READ_VIP; do
    until PGPASSWORD=$APP_PASSWORD as_owner "$PGBIN/psql" -X -q -A -t -h 127.0.0.1 -p "$vip" -U "$APP_USER" -d "$APP_DB" -c 'SELECT 1' >/dev/null 2>&1; do
      ((SECONDS > deadline)) && { print_log_tails; die "the HAProxy VIP on port $vip does not answer."; }
      sleep 0.2
    done
  done
}

# ---------------------------------------------------------------- commands
cmd_start() {
  init_bins
  prepare_dir
  exec 9>"$DIR/.lock"
  flock -w 180 9 || die "another ha-cluster.sh holds $DIR/.lock."
  check_ports_free
  local started_here=()
  trap 'rc=$?; if ((rc != 0)); then log "start failed; stopping what this run started"; for d in "${started_here[@]}"; do case $d in haproxy) stop_pidfile_daemon "$DIR/haproxy.pid" haproxy_pid ;; etcd) stop_pidfile_daemon "$DIR/etcd.pid" etcd_pid ;; *) stop_patroni "$d" ;; esac; done; fi' EXIT
  if [[ ! -d "$DIR/etcd/member" ]] && [[ -f "$DIR/node1/PG_VERSION" || -f "$DIR/node2/PG_VERSION" || -f "$DIR/node3/PG_VERSION" ]]; then
    die "$DIR holds PostgreSQL data but no etcd data (the cluster's state); run 'scripts/ha-cluster.sh destroy' and start again."
  fi
  [[ -d "$DIR/etcd/member" ]] || log "creating a new HA cluster in $DIR (ports $BASE..$((BASE + 9)))"
  etcd_pid >/dev/null || { started_here+=(etcd); start_etcd; }
  local n
  # node1 first: on a fresh cluster it bootstraps, the others clone from it.
  for n in "${NODES[@]}"; do
    patroni_pid "$n" >/dev/null || { started_here+=("$n"); start_patroni "$n"; }
  done
  haproxy_pid >/dev/null || { started_here+=(haproxy); start_haproxy; }
  wait_ready
  trap - EXIT
  log "ready: leader=$(current_leader) node1=$(pg_port node1) node2=$(pg_port node2) node3=$(pg_port node3) write_vip=$WRITE_VIP read_vip=$READ_VIP etcd=$ETCD_PORT"
}

cmd_stop() {
  [[ -d "$DIR" ]] || return 0
  PGBIN=$(find_pg_bin) || return 0
  stop_pidfile_daemon "$DIR/haproxy.pid" haproxy_pid
  local n
  for n in "${NODES[@]}"; do stop_patroni "$n" & done
  wait
  stop_pidfile_daemon "$DIR/etcd.pid" etcd_pid
}

cmd_status() {
  local n rc=0
  for n in "${NODES[@]}"; do
    if patroni_pid "$n" >/dev/null; then
      echo "$n: patroni running (pid $(patroni_pid "$n")), PostgreSQL 127.0.0.1:$(pg_port "$n") $(postmaster_pid "$n" >/dev/null && echo running || echo stopped), REST 127.0.0.1:$(rest_port "$n")"
    else
      echo "$n: stopped"; rc=3
    fi
  done
  etcd_pid >/dev/null && echo "etcd: running (127.0.0.1:$ETCD_PORT)" || { echo "etcd: stopped"; rc=3; }
  haproxy_pid >/dev/null && echo "haproxy: running (write VIP 127.0.0.1:$WRITE_VIP, read VIP 127.0.0.1:$READ_VIP)" || { echo "haproxy: stopped"; rc=3; }
  echo "members (name role state lag):"
  cluster_members 2>/dev/null | sed 's/^/  /' || echo "  (no Patroni REST API answers)"
  return $rc
}

cmd_destroy() {
  cmd_stop
  rm -rf "$DIR"
  log "destroyed $DIR"
}

cs() { echo "Host=127.0.0.1;Port=$1;Database=$APP_DB;Username=$APP_USER;Password=$APP_PASSWORD"; }

cmd_env() {
  echo "PATRONI_API=http://127.0.0.1:$(rest_port node1),http://127.0.0.1:$(rest_port node2),http://127.0.0.1:$(rest_port node3)"
  echo "NODE1=$(cs "$(pg_port node1)")"
  echo "NODE2=$(cs "$(pg_port node2)")"
  echo "NODE3=$(cs "$(pg_port node3)")"
  echo "WRITE_VIP=$(cs "$WRITE_VIP")"
  echo "READ_VIP=$(cs "$READ_VIP")"
}

# Simulates a crash of the leader's machine: kill -9 of its Patroni and its postmaster; returns at once.
cmd_kill_leader() {
  local leader ppid mpid
  leader=$(current_leader) || true
  [[ -n "$leader" ]] || die "no running leader to kill (see 'scripts/ha-cluster.sh status')."
  ppid=$(patroni_pid "$leader") || true
  mpid=$(postmaster_pid "$leader") || true
  [[ -n "$ppid" ]] && kill -9 "$ppid" 2>/dev/null || true
  [[ -n "$mpid" ]] && kill -9 "$mpid" 2>/dev/null || true
  # The backends die with their postmaster's death pipe; remove the stale pid file of Patroni only.
  rm -f "$DIR/$leader.patroni.pid"
  echo "$leader"
}

# A planned switchover to a synchronous standby, through Patroni's REST API; waits until the cluster is whole again.
cmd_switchover() {
  init_bins
  local leader candidate
  leader=$(current_leader) || true
  [[ -n "$leader" ]] || die "no running leader (see 'scripts/ha-cluster.sh status')."
  candidate=${1:-$(cluster_members | awk -v l="$leader" '$1 != l && $2 == "sync_standby" {print $1; exit}')}
  [[ -n "$candidate" ]] || die "no synchronous standby to switch over to."
  "$PY" - "http://127.0.0.1:$(rest_port "$leader")/switchover" "$leader" "$candidate" <<'PY' || die "Patroni refused the switchover from $leader to $candidate."
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=json.dumps({"leader": sys.argv[2], "candidate": sys.argv[3]}).encode(), method="POST", headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=60) as r:
    sys.stdout.write(r.read().decode() + "\n")
PY
  wait_ready 120
  echo "$(current_leader)"
}

cmd_stop_node() { # node
  node_index "$1" >/dev/null || exit 2
  PGBIN=$(find_pg_bin) || die "PostgreSQL is not installed."
  stop_patroni "$1"
}

cmd_start_node() { # node
  node_index "$1" >/dev/null || exit 2
  init_bins
  exec 9>"$DIR/.lock"
  flock -w 120 9 || die "another ha-cluster.sh holds $DIR/.lock."
  start_patroni "$1"
  # Back as a member only once it streams as a synchronous standby (or leads).
  local deadline=$((SECONDS + ${ROUTING_HA_READY_TIMEOUT:-120})) state
  while :; do
    state=$(cluster_members 2>/dev/null | awk -v n="$1" '$1 == n {print $2 ":" $3}')
    [[ "$state" =~ ^sync_standby:(running|streaming)$ || "$state" == "leader:running" ]] && break
    ((SECONDS > deadline)) && { print_log_tails; die "$1 did not return as a synchronous standby (Patroni reports '$state')."; }
    sleep 0.5
  done
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  destroy) cmd_destroy ;;
  env) cmd_env ;;
  leader) current_leader ;;
  kill-leader) cmd_kill_leader ;;
  switchover) cmd_switchover "${2:-}" ;;
  stop-node) [[ -n "${2:-}" ]] || die "usage: scripts/ha-cluster.sh stop-node node1|node2|node3"; cmd_stop_node "$2" ;;
  start-node) [[ -n "${2:-}" ]] || die "usage: scripts/ha-cluster.sh start-node node1|node2|node3"; cmd_start_node "$2" ;;
  *)
    echo "usage: scripts/ha-cluster.sh start|stop|status|destroy|env|leader|kill-leader|switchover [CANDIDATE]|stop-node NAME|start-node NAME" >&2
    exit 2 ;;
esac
