#!/usr/bin/env bash
# Benchmark (not a test): one lifecycle tick over N active orders (default 100,000) with 1 % due,
# on the local stack, in a database and vhost of its own (armada_bench). Reports the tick's scan
# time (its handler, from the worker's log) and the fan-out rate (per-order commands handled per
# second, from the inbox). Uses the built binaries as they are (debug unless you built release:
# ARMADA_BIN_DIR=.build/release). Writes nothing to the repository; paste the figures into
# Docs/benchmarks.md.
#
#   Deploy/bench/lifecycle-tick.sh [orders]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
ORDERS="${1:-100000}"
BIN="${ARMADA_BIN_DIR:-.build/debug}"
Deploy/local/stack.sh up >/dev/null
DB="${PG_DB}_bench"
export DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$DB"
export AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/armada_bench"
psql -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -c "DROP DATABASE IF EXISTS \"$DB\"" -c "CREATE DATABASE \"$DB\""
rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" delete_vhost armada_bench >/dev/null 2>&1 || true
rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" add_vhost armada_bench >/dev/null
rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" set_permissions -p armada_bench guest ".*" ".*" ".*" >/dev/null
"$BIN/armadactl" migrate >/dev/null
"$BIN/armadactl" topology apply >/dev/null

NOW="2030-06-01T12:00:00Z"
# N monthly orders: 1 % expire within the next 24 h (due: a reminder and a renewal each), the rest
# in 10 to 30 days. Auto-renew on, no money: the renewals fail (once told).
psql -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$DB" <<SQL
INSERT INTO orders (id, customer_id, plan_id, plan_name, size_slug, image, region, billing_period, price, hostname, status,
                    activated_at, expires_at, auto_renew)
SELECT gen_random_uuid(), 'bench-' || n, '6a1f0c3e-0b7d-5b0e-9a51-000000000001', 'basic', 's-1vcpu-1gb', 'debian-12-x64', 'sgp1',
       'MONTHLY', 50000, 'bench-' || n, 'ACTIVE', timestamptz '$NOW' - interval '20 days',
       CASE WHEN n % 100 = 0 THEN timestamptz '$NOW' + (n % 23 + 0.5) * interval '1 hour'
            ELSE timestamptz '$NOW' + (10 + n % 20) * interval '1 day' END,
       true
FROM generate_series(1, $ORDERS) AS n;
ANALYZE orders;
SQL
DUE=$(( ORDERS / 100 ))
LOG=$(mktemp /tmp/armada-bench-lifecycle-XXXX.log)
env ARMADA_LIFECYCLE_SCHEDULER=off ARMADA_METRICS_PORT=9193 ARMADA_LOG_LEVEL=info "$BIN/armada-lifecycle" >"$LOG" 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -fs http://127.0.0.1:9193/health >/dev/null 2>&1 && break; sleep 0.5; done

started=$(date +%s.%N)
"$BIN/armadactl" lifecycle tick --at "$NOW" >/dev/null
# Every fanned-out command handled: reminders and renewals, one each per due order.
expected=$(( DUE * 2 + 1 ))
while :; do
  handled=$(psql -tA -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$DB" -c "SELECT count(*) FROM inbox WHERE consumer = 'armada-lifecycle'")
  [ "$handled" -ge "$expected" ] && break
  sleep 0.2
done
finished=$(date +%s.%N)
scan_ms=$(grep '"message_type":"lifecycle.tick"' "$LOG" | grep '"msg":"processed"' | sed -E 's/.*"duration_ms":"([0-9]+)".*/\1/' | head -1)
total=$(python3 -c "print(round($finished - $started, 2))")
rate=$(python3 -c "print(int(($expected - 1) / ($finished - $started)))")
echo "orders: $ORDERS, due: $DUE; tick handler (scan + fan-out into the outbox): ${scan_ms} ms;"
echo "all $(( expected - 1 )) per-order commands handled ${total} s after the tick was published: about ${rate} commands/s (one process, $BIN)"
