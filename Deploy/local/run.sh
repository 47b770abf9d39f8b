#!/usr/bin/env bash
# Brings the whole system up locally: stack, migrations, topology, build, ingress and workers.
#
#   Deploy/local/run.sh          start (or restart) everything in the background
#   Deploy/local/run.sh stop     stop Armada's processes (the stack keeps running)
#   Deploy/local/run.sh down     stop Armada's processes and the stack
#   Deploy/local/run.sh status   what runs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
export PATH="/opt/swift/usr/bin:$PATH"

RUN_DIR="$ARMADA_LOCAL/run"
LOG_DIR="$ARMADA_LOCAL/logs"
PROCESSES=(armada-payments armada-ingress)
mkdir -p "$RUN_DIR" "$LOG_DIR"

stop_processes() {
  for name in "${PROCESSES[@]}"; do
    local pidfile="$RUN_DIR/$name.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped $name"
    fi
    rm -f "$pidfile"
  done
}

case "${1:-up}" in
  stop) stop_processes; exit 0 ;;
  down) stop_processes; Deploy/local/stack.sh down; exit 0 ;;
  status)
    Deploy/local/stack.sh status
    for name in "${PROCESSES[@]}"; do
      pid=$(cat "$RUN_DIR/$name.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
    done
    exit 0 ;;
  up) ;;
  *) echo "usage: $0 [up|stop|down|status]" >&2; exit 2 ;;
esac

Deploy/local/stack.sh up

# A development Tripay private key, generated once per checkout and kept out of git.
if [ -z "${TRIPAY_PRIVATE_KEY:-}" ]; then
  if [ ! -f "$ARMADA_LOCAL/dev-tripay-private-key" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$ARMADA_LOCAL/dev-tripay-private-key"
  fi
  TRIPAY_PRIVATE_KEY=$(cat "$ARMADA_LOCAL/dev-tripay-private-key")
fi
export TRIPAY_PRIVATE_KEY
export ARMADA_HTTP_PORT="${ARMADA_HTTP_PORT:-8080}"

log "building (first build takes a few minutes)"
swift build 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]|unhandled; explicitly declare' || true
test -x .build/debug/armadactl || { swift build; exit 1; }

.build/debug/armadactl migrate
.build/debug/armadactl topology apply

stop_processes
start() {
  local name=$1; shift
  env "$@" setsid ".build/debug/$name" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
}
start armada-payments ARMADA_METRICS_PORT="${PAYMENTS_METRICS_PORT:-9101}"
start armada-ingress

for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$ARMADA_HTTP_PORT/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$ARMADA_HTTP_PORT/ready" >/dev/null || { log "ingress not ready; see $LOG_DIR/armada-ingress.log"; exit 1; }

cat <<INFO

Armada is running.
  ingress            http://127.0.0.1:$ARMADA_HTTP_PORT   (/health, /ready, /metrics, POST /api/v1/webhooks/tripay)
  payments metrics   http://127.0.0.1:${PAYMENTS_METRICS_PORT:-9101}/metrics
  PostgreSQL         $DATABASE_URL
  RabbitMQ           $AMQP_URL
  logs               $LOG_DIR/
  Tripay dev key     $ARMADA_LOCAL/dev-tripay-private-key (generated, not in git)

Send a signed test callback (creates a PENDING deposit, pays it, prints the balance):
  Deploy/local/send-test-callback.sh

Queues and dead letters:   .build/debug/armadactl queues
Stop:                      Deploy/local/run.sh stop      (or 'down' to stop the stack too)
INFO
