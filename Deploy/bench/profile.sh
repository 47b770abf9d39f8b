#!/usr/bin/env bash
# Where the time goes on the payments hot path (issue 11): N PAID callbacks waiting in
# armada.payments, one release payments worker draining them, and `perf record -a -g` over the
# whole machine meanwhile. Prints the CPU share of each process (the worker, PostgreSQL,
# RabbitMQ), each one's split between kernel and user, and the hottest symbols. Uses the database
# and vhost of Deploy/bench/run.sh (armada_bench), so run that first; needs `perf` (Debian's
# linux-perf, installed here when missing) and root or perf_event_paranoid <= 1.
#
#   Deploy/bench/profile.sh [callbacks]         (default 40,000; the profile covers 12 s of the drain)
#   Deploy/bench/profile.sh --peer [callbacks]  the same for the Celery peer (Deploy/bench/peer/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
PEER=0
[ "${1:-}" = "--peer" ] && { PEER=1; shift; }
N="${1:-40000}"
BIN=.build/release
command -v perf >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y -qq linux-perf >/dev/null; }
DB="${PG_DB}_bench"
export DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$DB"
export AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/armada_bench"
sql() { psql -q -tA -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$DB" "$@"; }
OUT="$ARMADA_LOCAL/bench/profile-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
P="PROF$(date +%s)X"
sql -c "INSERT INTO wallets (customer_id) SELECT 'bench-$P-' || n FROM generate_series(1, $N) AS n"
sql -c "INSERT INTO deposits (id, customer_id, amount, fee, total_amount, method, reference, merchant_ref, expires_at, status)
        SELECT id, 'bench-$P-' || n, 150000, 4250, 154250, 'BRIVA', '$P' || n, 'DEP-' || id, now() + interval '1 day', 'PENDING'
        FROM (SELECT gen_random_uuid() AS id, n FROM generate_series(1, $N) AS n) AS s"
if [ "$PEER" -eq 1 ]; then
  VENV="$ARMADA_LOCAL/bench-venv"
  [ -x "$VENV/bin/celery" ] || { /usr/bin/python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -r Deploy/bench/peer/requirements.txt; }
  export PEER_BROKER_URL="$AMQP_URL" PEER_DATABASE_URL="$DATABASE_URL"
  (cd Deploy/bench/peer && "$VENV/bin/python" celery_credit.py produce "$P" "$N")
  (cd Deploy/bench/peer && exec "$VENV/bin/celery" -A celery_credit worker -Q peer.credit --pool prefork \
    --concurrency $(( $(nproc) * 2 )) --loglevel WARNING >"$OUT/worker.log" 2>&1) &
  WORKER=$!
  (cd Deploy/bench/peer && exec "$VENV/bin/python" celery_credit.py relay >"$OUT/relay.log" 2>&1) &
  RELAY=$!
  trap 'kill $WORKER $RELAY 2>/dev/null || true; pkill -f "celery_credit" || true' EXIT
else
  "$BIN/armada-bench" callbacks --count "$N" --prefix "$P" --inflight 200 >/dev/null
  env TRIPAY_API_KEY=DEV-bench-not-a-key TRIPAY_PRIVATE_KEY=bench-not-a-key TRIPAY_MERCHANT_CODE=T0001 TRIPAY_API_URL=http://127.0.0.1:1 \
    ARMADA_RECONCILE_AFTER_SECONDS=86400 ARMADA_CONCURRENCY=8 ARMADA_LOG_LEVEL=warning ARMADA_METRICS_PORT=9199 \
    "$BIN/armada-payments" >"$OUT/worker.log" 2>&1 &
  WORKER=$!
  trap 'kill $WORKER 2>/dev/null || true' EXIT
fi
sleep 4
before=$(sql -c "SELECT count(*) FROM deposits WHERE reference LIKE '$P%' AND status = 'PAID'")
vmstat 2 6 > "$OUT/vmstat.txt" &
VMSTAT=$!
perf record -a -g -F 499 -o "$OUT/perf.data" -- sleep 12 2>/dev/null >/dev/null
after=$(sql -c "SELECT count(*) FROM deposits WHERE reference LIKE '$P%' AND status = 'PAID'")
wait "$VMSTAT"
kill "$WORKER" ${RELAY:-}; wait "$WORKER" 2>/dev/null || true
[ "$PEER" -eq 1 ] && { pkill -f celery_credit || true; }
rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" purge_queue -p armada_bench armada.notifications >/dev/null
rate=$(( (after - before) / 12 ))
# Thread names: RabbitMQ's are the Erlang schedulers ("…_scheduler", "…dirty_io…"), PostgreSQL's
# "postgres".
report() { perf report -i "$OUT/perf.data" --no-children "$@" -g none 2>/dev/null | grep -v '^#' | grep -v '^$'; }
# The worker's threads: Dispatch and Swift concurrency pools ("…qos…") for Armada; Celery's
# prefork children and its relay are Python ("celery", "python…").
WORKER_THREADS='qos|armada|celery|python'
worker_comms() { report --sort comm | awk -v pattern="$WORKER_THREADS" '$2 ~ pattern {print $2}' | paste -sd,; }
{
  echo "$([ "$PEER" -eq 1 ] && echo "Celery peer" || echo "Armada, one payments process"): callbacks credited while profiled: $((after - before)) in 12 s ($rate/s)"
  echo
  echo "CPU by process (all CPUs, 499 Hz):"
  report --sort comm | awk '{ share = $1 + 0; name = $2
    if (name ~ /qos|armada|celery|python/) w += share; else if (name == "postgres") p += share;
    else if (name ~ /scheduler|dirty|poller|beam|erl|aux/) r += share; else if (name == "swapper") i += share; else o += share }
    END { printf "  worker %.1f %%, PostgreSQL %.1f %%, RabbitMQ %.1f %%, idle %.1f %%, other %.1f %%\n", w, p, r, i, o }'
  echo
  echo "kernel and user, per process:"
  for who in postgres; do report --comm "$who" --sort dso | head -3 | sed "s/^/  $who: /"; done
  report --comms "$(worker_comms)" --sort dso | head -4 | sed 's/^/  worker: /'
  echo
  echo "hottest symbols, PostgreSQL:"
  report --comm postgres --sort sym | head -12 | sed 's/^/  /'
  echo
  echo "hottest symbols, worker:"
  report --comms "$(worker_comms)" --sort sym | head -12 | cut -c1-160 | sed 's/^/  /'
  echo
  cat "$OUT/vmstat.txt"
} | tee "$OUT/profile.txt"
log "profile: $OUT/profile.txt (perf.data beside it)"
