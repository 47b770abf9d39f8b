#!/usr/bin/env bash
# The benchmark harness (issue 11): builds release binaries, brings the local stack up, and in a
# database and vhost of its own (armada_bench) measures, in one run:
#   1. the broker's limit: confirmed persistent publishes/s to a quorum queue with 500 confirms in
#      flight, then consume + ack/s (armada-bench broker);
#   2. the payments worker: N PAID Tripay callbacks waiting in armada.payments, drained by 1, 2 and
#      4 worker processes (ARMADA_CONCURRENCY=8 each), credited callbacks per second;
#   3. the SQL one PAID callback causes, read from pg_stat_statements (statements per callback,
#      mean time each);
#   4. the peer: the same credit (same statements, inbox, outbox and a confirming relay) as a Celery
#      5.7 worker (prefork, concurrency 2 × cores, late acks) with psycopg 3, same message count;
#      Armada ÷ Celery is taken within the run;
#   5. the payments worker's RSS idle and after draining.
# Each throughput figure is the median of RUNS runs, with the spread; a drain's rate counts from
# its first credit to its last (the deposits' update times), so start-up counts for no one. Figures go to
# .local/bench/<time>/report.md (and results.json); Docs/benchmarks.md holds the reviewed ones.
#
#   Deploy/bench/run.sh          full profile: 30,000 callbacks per run, 3 runs
#   Deploy/bench/run.sh --ci     CI profile: 1,000 callbacks, 1 run (checks that the harness works)
#   BENCH_CALLBACKS=N BENCH_RUNS=R override either profile's size
#
# Not yet here (issue 11 goes on): the ingress at fixed offered loads, end-to-end latency,
# pgbench over the captured SQL, the provisioner, the 10-minute soak.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
export PATH="/opt/swift/usr/bin:$PATH"

PROFILE=full
[ "${1:-}" = "--ci" ] && PROFILE=ci
if [ "$PROFILE" = ci ]; then N=1000; RUNS=1; PROCESSES=(1 2); else N=30000; RUNS=3; PROCESSES=(1 2 4); fi
N="${BENCH_CALLBACKS:-$N}"
RUNS="${BENCH_RUNS:-$RUNS}"
OUT="$ARMADA_LOCAL/bench/$(date -u +%Y%m%dT%H%M%SZ)-$PROFILE"
mkdir -p "$OUT"

log "building release binaries (a clean release build takes about 2.5 minutes)"
set +e
swift build -c release 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\]|^warning: 'swift-distributed-tracing': found 1 file|CMakeLists.txt$" > "$OUT/build.log"
build_status=${PIPESTATUS[0]}
set -e
[ "$build_status" -eq 0 ] || { cat "$OUT/build.log"; log "build failed"; exit "$build_status"; }
BIN=.build/release

Deploy/local/stack.sh up >/dev/null
psql_admin() { psql -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }
if ! psql_admin -tAc "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
  log "restarting PostgreSQL with pg_stat_statements loaded"
  Deploy/local/stack.sh restart-postgres >/dev/null
fi
DB="${PG_DB}_bench"
export DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$DB"
export AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/armada_bench"
psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DB\""
rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" delete_vhost armada_bench >/dev/null 2>&1 || true
rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" add_vhost armada_bench >/dev/null
rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" set_permissions -p armada_bench guest ".*" ".*" ".*" >/dev/null
"$BIN/armadactl" migrate >/dev/null
"$BIN/armadactl" topology apply >/dev/null
sql() { psql -q -tA -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$DB" "$@"; }
sql -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

WORKERS=()
stop_workers() {
  for pid in "${WORKERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${WORKERS[@]}"; do wait "$pid" 2>/dev/null || true; done
  WORKERS=()
}
trap stop_workers EXIT
start_workers() {
  local count=$1
  for i in $(seq 1 "$count"); do
    env TRIPAY_API_KEY=DEV-bench-not-a-key TRIPAY_PRIVATE_KEY=bench-not-a-key TRIPAY_MERCHANT_CODE=T0001 TRIPAY_API_URL=http://127.0.0.1:1 \
      ARMADA_RECONCILE_AFTER_SECONDS=86400 ARMADA_CONCURRENCY=${WORKER_CONCURRENCY:-8} ARMADA_LOG_LEVEL=warning ARMADA_METRICS_PORT=$((9190 + i)) \
      "$BIN/armada-payments" >>"$OUT/payments-$i.log" 2>&1 &
    WORKERS+=($!)
  done
  for i in $(seq 1 "$count"); do
    for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$((9190 + i))/health" >/dev/null 2>&1 && break; sleep 0.25; done
  done
}
rss_mb() { ps -o rss= -p "$1" | awk '{ printf "%.1f", $1 / 1024 }'; }
median() { python3 -c "import statistics,sys; v=sorted(float(x) for x in sys.argv[1:]); print(f'{statistics.median(v):.0f} ({v[0]:.0f}–{v[-1]:.0f})')" "$@"; }

# N PENDING deposits of 150,000 + 4,250 fee, one customer each, references <prefix>1…<prefix>N;
# each customer has a wallet already (an earlier top-up or the welcome bonus made it), as most
# customers who top up do.
seed() {
  local count=${2:-$N}
  sql -c "INSERT INTO wallets (customer_id) SELECT 'bench-$1-' || n FROM generate_series(1, $count) AS n"
  sql -c "INSERT INTO deposits (id, customer_id, amount, fee, total_amount, method, reference, merchant_ref, expires_at, status)
          SELECT id, 'bench-$1-' || n, 150000, 4250, 154250, 'BRIVA', '$1' || n, 'DEP-' || id, now() + interval '1 day', 'PENDING'
          FROM (SELECT gen_random_uuid() AS id, n FROM generate_series(1, $count) AS n) AS s"
}
credited() { sql -c "SELECT count(*) FROM deposits WHERE reference LIKE '$1%' AND status = 'PAID'"; }
# Waits until all N of a run are credited; gives up (and fails the harness) after 10 minutes.
await_credited() {
  local deadline=$(( $(date +%s) + 600 )) count=${2:-$N}
  while [ "$(credited "$1")" -lt "$count" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "only $(credited "$1") of $count credited for $1 after 10 minutes"; exit 1; }
    sleep 0.2
  done
}
# Credits per second between the first and the last credit (the deposits' update times), so a
# worker's start-up counts for neither Armada nor the peer.
drain_rate() {
  sql -c "SELECT round(($N - 1) / extract(epoch FROM max(updated_at) - min(updated_at))) FROM deposits
          WHERE reference LIKE '$1%' AND status = 'PAID'"
}
# Events pile up in armada.notifications (no notifier here); emptied between runs so they never
# reach its bound and make the relays back off.
purge_events() { rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" purge_queue -p armada_bench armada.notifications >/dev/null; }

log "1. the broker's limit ($((N * 2)) messages of 256 bytes, 500 confirms in flight)"
BROKER_PUBLISH=(); BROKER_CONSUME=()
for run in $(seq 1 "$RUNS"); do
  result=$("$BIN/armada-bench" broker --count $((N * 2)) --inflight 500 --size 256)
  echo "$result" >> "$OUT/broker.jsonl"
  BROKER_PUBLISH+=("$(echo "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["publishPerSecond"])')")
  BROKER_CONSUME+=("$(echo "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["consumePerSecond"])')")
done

log "2. payments: $N PAID callbacks drained by 1, 2, 4 processes, $RUNS run(s) each"
declare -A PAYMENTS ALL_RATES
RSS_IDLE=""; RSS_AFTER=""
CAPTURED=0
for processes in "${PROCESSES[@]}"; do
  rates=()
  for run in $(seq 1 "$RUNS"); do
    prefix="B${processes}R${run}X"
    seed "$prefix"
    "$BIN/armada-bench" callbacks --count "$N" --prefix "$prefix" --inflight 200 >> "$OUT/publish.jsonl"
    if [ "$CAPTURED" -eq 0 ]; then sql -c "SELECT pg_stat_statements_reset()" >/dev/null; fi
    start_workers "$processes"
    [ -z "$RSS_IDLE" ] && RSS_IDLE=$(rss_mb "${WORKERS[0]}")
    await_credited "$prefix"
    [ -z "$RSS_AFTER" ] && RSS_AFTER=$(rss_mb "${WORKERS[0]}")
    rate=$(drain_rate "$prefix")
    rates+=("$rate")
    ALL_RATES[$processes]="${ALL_RATES[$processes]:-} $rate"
    echo "{\"processes\": $processes, \"run\": $run, \"callbacks\": $N, \"perSecond\": $rate}" >> "$OUT/payments.jsonl"
    log "   $processes process(es), run $run: $rate credited/s"
    if [ "$CAPTURED" -eq 0 ]; then
      # The SQL of exactly these N callbacks (one process), before anything else runs.
      sql -F $'\t' -c "SELECT round(calls::numeric / $N, 2), round(mean_exec_time::numeric, 3), regexp_replace(query, '\s+', ' ', 'g')
                       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$DB') AND calls >= $N / 2
                       ORDER BY calls DESC, total_exec_time DESC" > "$OUT/statements.tsv"
      CAPTURED=1
    fi
    stop_workers
    purge_events
  done
  PAYMENTS[$processes]=$(median "${rates[@]}")
done

log "3. the database's limit for the same SQL: pgbench at 1, 4 and 8 clients, $RUNS run(s) each"
# The SQL is PostgreSQL's own record of a worker crediting callbacks: 64 callbacks drained by one
# process (concurrency 1, so batches are full) with log_statement = 'all', and its fullest
# transaction turned into a pgbench script (Deploy/bench/pgbench_script.py).
seed PGBX 64
sql -c "ALTER DATABASE \"$DB\" SET log_statement = 'all'"
log_offset=$(stat -c %s "$PG_LOG")
"$BIN/armada-bench" callbacks --count 64 --prefix PGBX --inflight 64 >/dev/null
WORKER_CONCURRENCY=1 start_workers 1
await_credited PGBX 64
stop_workers
sql -c "ALTER DATABASE \"$DB\" RESET log_statement"
tail -c +$((log_offset + 1)) "$PG_LOG" > "$OUT/capture.log"
sql -F $'\t' -c "SELECT id, reference FROM deposits WHERE reference LIKE 'PGBX%'" > "$OUT/capture-deposits.tsv"
BATCH=$(python3 Deploy/bench/pgbench_script.py "$OUT/capture.log" "$OUT/capture-deposits.tsv" "$OUT/pgbench.sql" "$DATABASE_URL")
purge_events
declare -A PGBENCH ALL_PGBENCH
for clients in 1 4 8; do
  rates=()
  for run in $(seq 1 "$RUNS"); do
    tag=$((clients * 10 + run))
    per_client=$(( (N + BATCH * clients - 1) / (BATCH * clients) ))
    # The deposits the script credits: K = tag * 10^8 + client * 10^6 + j * BATCH + i.
    sql -c "CREATE TEMP TABLE k AS SELECT $tag::bigint * 100000000 + c * 1000000 + j * $BATCH + i AS k
              FROM generate_series(0, $clients - 1) c, generate_series(1, $per_client) j, generate_series(0, $BATCH - 1) i;
            INSERT INTO wallets (customer_id) SELECT 'bench-PGBX-' || k FROM k;
            INSERT INTO deposits (id, customer_id, amount, fee, total_amount, method, reference, merchant_ref, expires_at, status)
              SELECT md5('pgbdep' || k)::uuid, 'bench-PGBX-' || k, 150000, 4250, 154250, 'BRIVA', 'PGBX' || k,
                     'DEP-' || md5('pgbdep' || k)::uuid, now() + interval '1 day', 'PENDING' FROM k;"
    sql -c "CHECKPOINT"
    tps=$(pgbench -n -M prepared -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -c "$clients" -j "$clients" -t "$per_client" \
            -D run="$tag" -D j=0 -f "$OUT/pgbench.sql" "$DB" 2>>"$OUT/pgbench.log" | tee -a "$OUT/pgbench.log" \
            | awk '/^tps = / {print $3}')
    paid=$(sql -c "SELECT count(*) FROM deposits WHERE reference LIKE 'PGBX%' AND status = 'PAID'
                   AND substring(reference FROM 5)::bigint BETWEEN $tag::bigint * 100000000 AND ($tag::bigint + 1) * 100000000 - 1")
    expected=$((clients * per_client * BATCH))
    [ "$paid" -eq "$expected" ] || { log "pgbench credited $paid of $expected deposits: the script is not the worker's SQL"; exit 1; }
    rate=$(python3 -c "print(round(float('$tps') * $BATCH))")
    rates+=("$rate")
    ALL_PGBENCH[$clients]="${ALL_PGBENCH[$clients]:-} $rate"
    echo "{\"pgbench\": $clients, \"run\": $run, \"callbacks\": $expected, \"perSecond\": $rate}" >> "$OUT/payments.jsonl"
    log "   pgbench, $clients client(s), run $run: $rate callbacks/s ($tps transactions of $BATCH)"
  done
  PGBENCH[$clients]=$(median "${rates[@]}")
done
# The events pgbench wrote are nobody's: no relay of a later step publishes them.
sql -c "UPDATE outbox SET published_at = now() WHERE published_at IS NULL"
purge_events

log "4. the Celery peer: the same $N credits, $RUNS run(s)"
VENV="$ARMADA_LOCAL/bench-venv"
[ -x "$VENV/bin/celery" ] || { /usr/bin/python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -r Deploy/bench/peer/requirements.txt; }
export PEER_BROKER_URL="$AMQP_URL" PEER_DATABASE_URL="$DATABASE_URL"
PEER_CONCURRENCY=$(( $(nproc) * 2 ))
CELERY=()
for run in $(seq 1 "$RUNS"); do
  prefix="CELERYR${run}X"
  seed "$prefix"
  (cd Deploy/bench/peer && "$VENV/bin/python" celery_credit.py produce "$prefix" "$N")
  (cd Deploy/bench/peer && exec "$VENV/bin/celery" -A celery_credit worker -Q peer.credit --pool prefork \
    --concurrency "$PEER_CONCURRENCY" --loglevel WARNING >>"$OUT/celery.log" 2>&1) &
  WORKERS+=($!)
  (cd Deploy/bench/peer && exec "$VENV/bin/python" celery_credit.py relay >>"$OUT/celery-relay.log" 2>&1) &
  WORKERS+=($!)
  await_credited "$prefix"
  rate=$(drain_rate "$prefix")
  CELERY+=("$rate")
  echo "{\"peer\": \"celery\", \"run\": $run, \"callbacks\": $N, \"perSecond\": $rate}" >> "$OUT/payments.jsonl"
  log "   Celery, run $run: $rate credited/s"
  stop_workers
  purge_events
done
PEER=$(median "${CELERY[@]}")
ratio() { python3 -c "import statistics,sys; a=statistics.median([float(x) for x in sys.argv[2].split()]); b=statistics.median([float(x) for x in sys.argv[3].split()]); print(f'{a / b:.2f}')" "$@"; }

{
  echo "# Benchmark run $(basename "$OUT")"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"); release build; profile $PROFILE ($N callbacks per run, $RUNS run(s), median (min–max))."
  echo
  echo "| what | figure |"
  echo "| --- | --- |"
  echo "| broker: confirmed persistent publishes/s (quorum queue, 500 in flight, 256 B) | $(median "${BROKER_PUBLISH[@]}") |"
  echo "| broker: consume + ack/s (prefetch 100) | $(median "${BROKER_CONSUME[@]}") |"
  for processes in "${PROCESSES[@]}"; do
    echo "| payments, $processes process(es) × concurrency 8: PAID callbacks credited/s | ${PAYMENTS[$processes]} |"
  done
  for clients in 1 4 8; do
    echo "| pgbench, $clients client(s), the worker's own SQL ($BATCH callbacks per transaction): callbacks/s | ${PGBENCH[$clients]} |"
  done
  echo "| Celery 5.7 peer (prefork × $PEER_CONCURRENCY, psycopg 3), same credit: credited/s | $PEER |"
  for processes in "${PROCESSES[@]}"; do
    echo "| Armada ($processes process(es)) ÷ Celery | $(ratio x "${ALL_RATES[$processes]}" "${CELERY[*]}") |"
  done
  for processes in "${PROCESSES[@]}"; do
    echo "| Armada ($processes process(es)) ÷ pgbench (4 clients) | $(ratio x "${ALL_RATES[$processes]}" "${ALL_PGBENCH[4]}") |"
  done
  echo "| payments worker RSS: idle after start / after draining $N | ${RSS_IDLE} MB / ${RSS_AFTER} MB |"
  echo
  echo "## The SQL one PAID callback causes (pg_stat_statements, one process, $N callbacks)"
  echo
  echo "| per callback | mean ms | statement |"
  echo "| --- | --- | --- |"
  while IFS=$'\t' read -r per mean query; do
    echo "| $per | $mean | \`$(echo "$query" | cut -c1-160 | sed 's/|/\\|/g')\` |"
  done < "$OUT/statements.tsv"
} > "$OUT/report.md"
cat "$OUT/report.md"
log "report: $OUT/report.md"
