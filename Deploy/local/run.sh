#!/usr/bin/env bash
# Brings the whole system up locally: stack, migrations, topology, build, ingress and workers.
#
#   Deploy/local/run.sh              start (or restart) everything in the background
#   Deploy/local/run.sh --foreground start, then follow every process's log; Ctrl-C stops everything
#   Deploy/local/run.sh stop         stop everything: Armada's processes, then PostgreSQL and RabbitMQ
#   Deploy/local/run.sh status       what runs
#   Deploy/local/run.sh demo         play the whole customer story against the running system
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
export PATH="/opt/swift/usr/bin:$PATH"

RUN_DIR="$ARMADA_LOCAL/run"
LOG_DIR="$ARMADA_LOCAL/logs"
PROCESSES=(smtp-sink armada-sim armada-payments armada-provisioner armada-lifecycle armada-notifier armada-ingress)
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

FOREGROUND=""
case "${1:-up}" in
  stop|down) stop_processes; Deploy/local/stack.sh down; exit 0 ;;
  demo) exec /usr/bin/python3 Deploy/local/demo.py "${@:2}" ;;
  --foreground|-f|fg) FOREGROUND=1 ;;
  status)
    Deploy/local/stack.sh status
    for name in "${PROCESSES[@]}"; do
      pid=$(cat "$RUN_DIR/$name.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
    done
    exit 0 ;;
  up) ;;
  *) echo "usage: $0 [up|--foreground|stop|status|demo]" >&2; exit 2 ;;
esac

Deploy/local/stack.sh up

# Development secrets, generated once per checkout into .local/ (git-ignored); the simulator
# and Armada share them the way a merchant account and Tripay do.
dev_secret() {
  local file="$ARMADA_LOCAL/dev-$1"
  [ -f "$file" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file"
  cat "$file"
}
export TRIPAY_PRIVATE_KEY="${TRIPAY_PRIVATE_KEY:-$(dev_secret tripay-private-key)}"
export TRIPAY_API_KEY="${TRIPAY_API_KEY:-DEV-$(dev_secret tripay-api-key)}"
export TRIPAY_MERCHANT_CODE="${TRIPAY_MERCHANT_CODE:-T0001}"
export ARMADA_JWT_SECRET="${ARMADA_JWT_SECRET:-$(dev_secret jwt-secret)}"
export ARMADA_HTTP_PORT="${ARMADA_HTTP_PORT:-8080}"
export SIM_TRIPAY_PORT="${SIM_TRIPAY_PORT:-8091}"
export TRIPAY_API_URL="${TRIPAY_API_URL:-http://127.0.0.1:$SIM_TRIPAY_PORT}"
export SIM_TRIPAY_CALLBACK_URL="http://127.0.0.1:$ARMADA_HTTP_PORT/api/v1/webhooks/tripay"
# DigitalOcean: the simulator, one account with a generated (fake) token; the token is sealed
# with ARMADA_ENCRYPTION_KEY (64 hex digits, generated) when stored.
export ARMADA_ENCRYPTION_KEY="${ARMADA_ENCRYPTION_KEY:-$(dev_secret encryption-key)}"
export SIM_DO_PORT="${SIM_DO_PORT:-8092}"
export DIGITALOCEAN_API_URL="${DIGITALOCEAN_API_URL:-http://127.0.0.1:$SIM_DO_PORT}"
export SIM_DO_TOKENS="${SIM_DO_TOKENS:-dev-fake-do-$(dev_secret do-token)}"
export SIM_DO_BOOT_SECONDS="${SIM_DO_BOOT_SECONDS:-5}"
# Notifications: the Telegram simulator (a fake bot token in Telegram's shape) and an SMTP sink
# that keeps every message in .local/mail/new/.
export SIM_TELEGRAM_PORT="${SIM_TELEGRAM_PORT:-8093}"
export TELEGRAM_API_URL="${TELEGRAM_API_URL:-http://127.0.0.1:$SIM_TELEGRAM_PORT}"
export TELEGRAM_BOT_TOKEN="${TELEGRAM_BOT_TOKEN:-1000:dev-fake-$(dev_secret telegram-token)}"
export SIM_TELEGRAM_TOKENS="${SIM_TELEGRAM_TOKENS:-$TELEGRAM_BOT_TOKEN}"
SMTP_SINK_PORT="${SMTP_SINK_PORT:-2525}"
MAILDIR="$ARMADA_LOCAL/mail"
export SMTP_URL="${SMTP_URL:-smtp://127.0.0.1:$SMTP_SINK_PORT}"
export SMTP_FROM="${SMTP_FROM:-billing@armada.local}"

log "building (first build takes a few minutes)"
set +e
swift build 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\]|^warning: 'swift-distributed-tracing': found 1 file|CMakeLists.txt$"
build_status=${PIPESTATUS[0]}
set -e
[ "$build_status" -eq 0 ] || { log "build failed"; exit "$build_status"; }

.build/debug/armadactl migrate
.build/debug/armadactl topology apply

stop_processes
start() {
  local name=$1; shift
  env "$@" setsid ".build/debug/$name" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
}
# Debian's aiosmtpd runs with /usr/bin/python3 (not another python3 on PATH).
setsid /usr/bin/python3 -u Deploy/local/smtp-sink.py --host 127.0.0.1 --port "$SMTP_SINK_PORT" --maildir "$MAILDIR" \
  >>"$LOG_DIR/smtp-sink.log" 2>&1 < /dev/null &
echo $! > "$RUN_DIR/smtp-sink.pid"
start armada-sim
for _ in $(seq 1 60); do curl -fs "$DIGITALOCEAN_API_URL/health" >/dev/null 2>&1 && break; sleep 0.5; done
# The simulator's account, once (the token is checked with GET /v2/account before it is stored).
if ! .build/debug/armadactl do-accounts list | grep -q "^sim-primary"; then
  DIGITALOCEAN_TOKEN="${SIM_DO_TOKENS%%,*}" .build/debug/armadactl do-accounts add --name sim-primary --primary --droplet-limit 25
fi
start armada-payments ARMADA_METRICS_PORT="${PAYMENTS_METRICS_PORT:-9101}"
start armada-provisioner ARMADA_METRICS_PORT="${PROVISIONER_METRICS_PORT:-9102}"
start armada-lifecycle ARMADA_METRICS_PORT="${LIFECYCLE_METRICS_PORT:-9103}"
start armada-notifier ARMADA_METRICS_PORT="${NOTIFIER_METRICS_PORT:-9104}"
start armada-ingress

for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$ARMADA_HTTP_PORT/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$ARMADA_HTTP_PORT/ready" >/dev/null || { log "ingress not ready; see $LOG_DIR/armada-ingress.log"; exit 1; }

cat <<INFO

Armada is running.
  ingress            http://127.0.0.1:$ARMADA_HTTP_PORT   (/api/v1/..., /health, /ready, /metrics, POST /api/v1/webhooks/tripay)
  payments metrics   http://127.0.0.1:${PAYMENTS_METRICS_PORT:-9101}/metrics
  provisioner metrics http://127.0.0.1:${PROVISIONER_METRICS_PORT:-9102}/metrics
  lifecycle metrics  http://127.0.0.1:${LIFECYCLE_METRICS_PORT:-9103}/metrics   (a tick every minute)
  notifier metrics   http://127.0.0.1:${NOTIFIER_METRICS_PORT:-9104}/metrics
  Tripay simulator   $TRIPAY_API_URL   (POST /_sim/transactions/REFERENCE/pay|expire|fail|refund)
  DigitalOcean sim   $DIGITALOCEAN_API_URL   (GET /_sim/droplets, POST /_sim/faults)
  Telegram sim       $TELEGRAM_API_URL   (what the bot sent: GET /_sim/messages; POST /_sim/faults)
  SMTP sink          $SMTP_URL   (every email the system sends: $MAILDIR/new/)
  PostgreSQL         $DATABASE_URL
  RabbitMQ           $AMQP_URL
  ops page           http://127.0.0.1:$ARMADA_HTTP_PORT/ops   (paste an admin token: Deploy/local/admin-token.sh)
  RabbitMQ management http://127.0.0.1:$RABBIT_MANAGEMENT_PORT   (guest/guest, loopback only)
  Prometheus rules   Deploy/prometheus/   (scrape config for these ports: Deploy/prometheus/prometheus.yml)
  logs               $LOG_DIR/
  dev secrets        $ARMADA_LOCAL/dev-* (generated, not in git)

Send a signed test callback (creates a PENDING deposit, pays it, prints the balance):
  Deploy/local/send-test-callback.sh

The whole deposit story through the API (token, deposit, simulator pays, balance):
  Deploy/local/demo-deposit.sh

A customer tops up, orders a monthly VPS, sees it ACTIVE with an IP, powers it off and on, deletes it:
  Deploy/local/demo-order.sh

Set where a customer's notifications go (PUT /api/v1/me/contact), then read them back:
  GET /api/v1/notifications; the emails are files in $MAILDIR/new/, the Telegram messages at
  curl $TELEGRAM_API_URL/_sim/messages

The whole story (contact, top-up with a promo, a monthly VPS, reminders, renewal, suspension,
termination, and the messages the customer got), against this running system:
  Deploy/local/run.sh demo

Move time (reminders, renewals, suspension):  .build/debug/armadactl lifecycle tick --at 2027-01-01T00:00:00Z
Queues and dead letters:   .build/debug/armadactl queues [--watch 2]
Stop everything:           Deploy/local/run.sh stop
INFO

if [ -n "$FOREGROUND" ]; then
  log "following the logs; Ctrl-C stops everything"
  # The processes run in sessions of their own (setsid): Ctrl-C reaches this script and tail only.
  tail -n 0 -q -F "$LOG_DIR"/armada-*.log &
  TAIL_PID=$!
  trap 'trap - INT TERM; kill "$TAIL_PID" 2>/dev/null; echo; log "stopping"; stop_processes; Deploy/local/stack.sh down; exit 0' INT TERM
  wait "$TAIL_PID" || true
fi
