#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this host, for the fault suite (Deploy/faults/run.sh): nodes
# armada-c1..3@localhost on 127.0.0.1:17721..17723 (distribution 17731..17733), data under .local/cluster (started fresh by
# `up`), sharing the local stack's epmd. Armada reaches it with a comma-separated AMQP_URL list.
#
#   Deploy/faults/cluster.sh up        start the three nodes, join them, add vhost armada_cluster
#   Deploy/faults/cluster.sh kill N    SIGKILL node N (1..3)
#   Deploy/faults/cluster.sh start N   start node N again (it rejoins the cluster)
#   Deploy/faults/cluster.sh status    which nodes the cluster sees running
#   Deploy/faults/cluster.sh down      stop every node and remove .local/cluster
#   Deploy/faults/cluster.sh url       the AMQP_URL list for armada_cluster
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh

CLUSTER_HOME="$ARMADA_LOCAL/cluster"
VHOST=armada_cluster

node_env() {
  local n=$1
  shift
  env HOME="$CLUSTER_HOME/home" \
    RABBITMQ_NODENAME="armada-c$n@localhost" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="1772$n" \
    RABBITMQ_DIST_PORT="1773$n" \
    ERL_EPMD_PORT="$RABBIT_EPMD_PORT" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$CLUSTER_HOME/n$n/mnesia" \
    RABBITMQ_LOG_BASE="$CLUSTER_HOME/n$n/log" \
    RABBITMQ_PID_FILE="$CLUSTER_HOME/n$n/rabbitmq.pid" \
    RABBITMQ_CONFIG_FILE="$CLUSTER_HOME/n$n/rabbitmq" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$CLUSTER_HOME/n$n/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$CLUSTER_HOME/n$n/enabled_plugins" \
    RABBITMQ_ENABLED_PLUGINS="" \
    ERL_CRASH_DUMP="$CLUSTER_HOME/n$n/log/erl_crash.dump" \
    "$@"
}
ctl() { local n=$1; shift; node_env "$n" "$RABBIT_BIN/rabbitmqctl" -q -n "armada-c$n@localhost" "$@"; }

start_node() {
  local n=$1
  mkdir -p "$CLUSTER_HOME/n$n/mnesia" "$CLUSTER_HOME/n$n/log"
  cat > "$CLUSTER_HOME/n$n/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:1772$n
loopback_users.guest = true
disk_free_limit.absolute = 200MB
log.file.level = warning
log.console = false
cluster_partition_handling = pause_minority
CONF
  echo "[]." > "$CLUSTER_HOME/n$n/advanced.config"
  echo "[]." > "$CLUSTER_HOME/n$n/enabled_plugins"
  node_env "$n" setsid "$RABBIT_BIN/rabbitmq-server" >"$CLUSTER_HOME/n$n/log/stdout.log" 2>&1 < /dev/null &
  disown || true
}

await_node() {
  local n=$1
  local deadline=$((SECONDS + 90))
  while [ "$SECONDS" -lt "$deadline" ]; do
    ctl "$n" await_startup --timeout 10 >/dev/null 2>&1 && return 0
    sleep 1
  done
  log "cluster node $n did not start; see $CLUSTER_HOME/n$n/log"
  tail -n 20 "$CLUSTER_HOME/n$n/log/stdout.log" >&2 || true
  return 1
}

stop_all() {
  for n in 1 2 3; do
    local pidfile="$CLUSTER_HOME/n$n/rabbitmq.pid"
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    kill -CONT "$pid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
  done
  # What a SIGKILLed node leaves (its Erlang children) goes with it.
  pkill -9 -f "armada-c[123]@localhost" 2>/dev/null || true
}

case "${1:-}" in
  up)
    stop_all
    rm -rf "$CLUSTER_HOME"
    mkdir -p "$CLUSTER_HOME/home"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$CLUSTER_HOME/home/.erlang.cookie"
    chmod 400 "$CLUSTER_HOME/home/.erlang.cookie"
    for n in 1 2 3; do start_node "$n"; done
    for n in 1 2 3; do await_node "$n"; done
    for n in 2 3; do
      ctl "$n" stop_app >/dev/null
      ctl "$n" join_cluster armada-c1@localhost >/dev/null
      ctl "$n" start_app >/dev/null
    done
    ctl 1 add_vhost "$VHOST" >/dev/null
    ctl 1 set_permissions -p "$VHOST" guest ".*" ".*" ".*" >/dev/null
    log "three-node cluster up: $(ctl 1 cluster_status --formatter json | python3 -c 'import json,sys; print(", ".join(json.load(sys.stdin)["running_nodes"]))')"
    ;;
  kill)
    n=${2:?node 1..3}
    kill -9 "$(cat "$CLUSTER_HOME/n$n/rabbitmq.pid")"
    pkill -9 -f "armada-c$n@localhost" 2>/dev/null || true
    ;;
  start)
    n=${2:?node 1..3}
    start_node "$n"
    await_node "$n"
    ;;
  status)
    for n in 1 2 3; do
      if ctl "$n" cluster_status --formatter json >/dev/null 2>&1; then
        ctl "$n" cluster_status --formatter json | python3 -c 'import json,sys; print("running:", " ".join(sorted(json.load(sys.stdin)["running_nodes"])))'
        exit 0
      fi
    done
    echo "no node running"
    ;;
  url)
    echo "amqp://guest:guest@127.0.0.1:17721/$VHOST,amqp://guest:guest@127.0.0.1:17722/$VHOST,amqp://guest:guest@127.0.0.1:17723/$VHOST"
    ;;
  down)
    stop_all
    rm -rf "$CLUSTER_HOME"
    ;;
  *)
    echo "usage: $0 up|kill N|start N|status|url|down" >&2
    exit 2
    ;;
esac
