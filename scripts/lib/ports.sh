# Shared by cluster.sh and ha-cluster.sh (sourced, not run): who holds a TCP port on this machine.
# shellcheck shell=bash

# Who holds a local TCP port, as "program (pid N)": a listener first, else another socket of a live process bound to
# it (the client end of an outgoing connection on an ephemeral port blocks bind() too). Sockets no process owns any
# more (FIN-WAIT and the like, left by a daemon this script just stopped) are not counted: they do not stop a server
# that binds with SO_REUSEADDR, as PostgreSQL, Patroni, etcd and HAProxy do. Fails when nothing holds the port. Uses
# ss (iproute2); without it, or for another user's process when not root, it can only say that the port is taken.
port_holder() { # port
  local p=$1 lines who
  if command -v ss >/dev/null 2>&1; then
    lines=$(ss -Htanp state listening "( sport = :$p )" 2>/dev/null)
    [[ -n "$lines" ]] || lines=$(ss -Htanp state all exclude listening exclude time-wait "( sport = :$p )" 2>/dev/null | grep -F 'users:((' || true)
    [[ -n "$lines" ]] || return 1
    who=$(grep -o '("[^"]*",pid=[0-9]*' <<<"$lines" | sed -E 's/\("([^"]*)",pid=([0-9]*)/\1 (pid \2)/' | sort -u | paste -sd, - | sed 's/,/, /g')
    echo "${who:-a process of another user (run as root to see which)}"
    return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1
  echo "an unknown program (install iproute2 for 'ss' to name it)"
}
