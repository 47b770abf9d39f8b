#!/usr/bin/env bash
# The benchmark harness (issue 11): builds release binaries, brings the local stack up, and in a
# database and vhost of its own (armada_bench) measures, in one run:
#   1. the broker's limit: confirmed persistent publishes/s to a quorum queue, 500 in flight, then
#      consume + ack/s (armada-bench broker);
#   2. payments: N PAID Tripay callbacks waiting in armada.payments, drained by 1, 2 and 4 worker
#      processes (concurrency 8 each); the SQL one callback causes (pg_stat_statements);
#   3. the database's limit for the same SQL: the worker's statement log turned into a pgbench
#      script (pgbench_script.py), at 1, 4 and 8 clients;
#   4. the peer: the same credit as a Celery 5.7 worker (Deploy/bench/peer/), same count;
#   5. the ingress at fixed offered loads (armada-bench load, open loop): signed callbacks and
#      authenticated commands, up to saturation, then at half the maximum;
#   6. end to end: callback sent -> credit committed, at 25/50/80 % of one worker's drain rate;
#   7. every process's RSS (and private memory) idle, under load and after a soak;
#   8. the provisioner (1 and 2 processes) against the DigitalOcean simulator, orders via the API;
#   9. a lifecycle tick over 100,000 orders (lifecycle-tick.sh, release).
# Throughput figures are the median of RUNS runs with the spread; every drain starts from empty
# tables. The report goes to .local/bench/<time>-<profile>/report.md (raw *.jsonl beside it);
# Docs/benchmarks.md holds the reviewed figures.
#
#   Deploy/bench/run.sh          full profile: 30,000 callbacks per run, 3 runs, a 10-minute soak
#   Deploy/bench/run.sh --ci     CI profile: every step small, 1 run (checks that the harness works)
#   BENCH_CALLBACKS=N BENCH_RUNS=R BENCH_SOAK_SECONDS=S override either profile's size
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
export PATH="/opt/swift/usr/bin:$PATH"

PROFILE=full
[ "${1:-}" = "--ci" ] && PROFILE=ci
if [ "$PROFILE" = ci ]; then
  N=1000; RUNS=1; PROCESSES=(1 2); LADDER=(500 1000); SECONDS_PER_LOAD=2; E2E_SECONDS=2; SOAK_SECONDS=20
  ORDERS=20; ORDER_RATE=10; DO_ACCOUNTS=2; TICK_ORDERS=10000
else
  N=30000; RUNS=3; PROCESSES=(1 2 4); LADDER=(1000 2000 3000 4000 5000 6000 8000 10000); SECONDS_PER_LOAD=10; E2E_SECONDS=20
  SOAK_SECONDS=600; ORDERS=500; ORDER_RATE=50; DO_ACCOUNTS=10; TICK_ORDERS=100000
fi
SOAK_SECONDS="${BENCH_SOAK_SECONDS:-$SOAK_SECONDS}"
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
if ! psql_admin -tAc "SHOW shared_preload_libraries" | grep -q pg_stat_statements \
   || [ "$(psql_admin -tAc "SHOW track_commit_timestamp")" != on ]; then
  log "restarting PostgreSQL with pg_stat_statements loaded and commit timestamps kept"
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
# RSS, and in brackets what is the process's own (private pages; the rest is code and data shared
# with other processes: the Swift runtime, Foundation, ICU, the binary's text).
memory_mb() {
  awk -v rss="$(rss_mb "$1")" '/^Private_(Clean|Dirty):/ { private += $2 } END { printf "%s (%.1f)", rss, private / 1024 }' \
    "/proc/$1/smaps_rollup"
}
median() { python3 -c "import statistics,sys; v=sorted(float(x) for x in sys.argv[1:]); print(f'{statistics.median(v):.0f} ({v[0]:.0f}–{v[-1]:.0f})')" "$@"; }
ratio() { python3 -c "import statistics,sys; a=statistics.median([float(x) for x in sys.argv[2].split()]); b=statistics.median([float(x) for x in sys.argv[3].split()]); print(f'{a / b:.2f}')" "$@"; }

# Every drain starts from the same empty tables, so no run pays for an earlier run's rows (the
# peer, measured last, would otherwise work on the biggest tables).
fresh_tables() {
  sql -c "TRUNCATE deposits, ledger_entries, wallets, tripay_callbacks, inbox, outbox, commands CASCADE" -c "VACUUM ANALYZE"
}
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
    fresh_tables
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
    fresh_tables
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
  fresh_tables
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

# The ingress, on its own port, with the bench's database and vhost.
INGRESS_PORT=8190
export TRIPAY_PRIVATE_KEY=bench-not-a-key ARMADA_JWT_SECRET=bench-not-a-jwt-secret-0123456789abcdef
# One load generator on one address is the whole point here: the ingress's rate limits are off.
export ARMADA_RATE_LIMIT_PER_IP=off ARMADA_RATE_LIMIT_PER_CUSTOMER=off
start_ingress() {
  env ARMADA_HTTP_PORT=$INGRESS_PORT ARMADA_LOG_LEVEL=warning "$BIN/armada-ingress" >>"$OUT/ingress.log" 2>&1 &
  WORKERS+=($!)
  INGRESS_PID=$!
  for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$INGRESS_PORT/ready" >/dev/null 2>&1 && break; sleep 0.25; done
}
purge_commands() { rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" purge_queue -p armada_bench armada.payments >/dev/null; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

log "5. the ingress at fixed offered loads (open loop, latency from when each request was due), $SECONDS_PER_LOAD s each"
start_ingress
declare -A INGRESS_MAX INGRESS_HALF
for kind in callbacks contacts; do
  best=0
  for rate in "${LADDER[@]}"; do
    result=$("$BIN/armada-bench" load --kind "$kind" --port $INGRESS_PORT --rate "$rate" --seconds "$SECONDS_PER_LOAD" \
               --connections 64 --prefix "I${kind:0:2}${rate}X")
    echo "{\"ingress\": \"$kind\", \"result\": $result}" >> "$OUT/ingress.jsonl"
    purge_commands
    achieved=$(field "$result" achieved)
    log "   $kind offered $rate/s: achieved $achieved/s, p50 $(field "$result" p50) ms, p99 $(field "$result" p99) ms, p99.9 $(field "$result" p999) ms"
    [ "$achieved" -gt "$best" ] && best=$achieved
    # Saturated: the answers fall behind the offered rate.
    [ "$achieved" -lt $((rate * 90 / 100)) ] && break
  done
  INGRESS_MAX[$kind]=$best
  half=$((best / 2))
  result=$("$BIN/armada-bench" load --kind "$kind" --port $INGRESS_PORT --rate "$half" --seconds "$SECONDS_PER_LOAD" \
             --connections 64 --prefix "I${kind:0:2}H${half}X")
  echo "{\"ingress\": \"$kind\", \"half\": true, \"result\": $result}" >> "$OUT/ingress.jsonl"
  purge_commands
  INGRESS_HALF[$kind]="$(field "$result" achieved)/s: p50 $(field "$result" p50) ms, p99 $(field "$result" p99) ms, p99.9 $(field "$result" p999) ms"
  log "   $kind at half the maximum ($half/s): ${INGRESS_HALF[$kind]}"
done
INGRESS_RSS_LOAD=$(rss_mb "$INGRESS_PID")
stop_workers

log "6. end to end: callback sent -> wallet credited (its commit), one payments process, at 25, 50, 80 % of its maximum"
MAX_ONE=$(python3 -c "import statistics,sys; print(int(statistics.median(float(x) for x in sys.argv[1].split())))" "${ALL_RATES[1]}")
start_ingress
start_workers 1
declare -A E2E
for share in 25 50 80; do
  rate=$((MAX_ONE * share / 100))
  count=$((rate * E2E_SECONDS))
  prefix="E${share}X"
  seed "$prefix" "$count"
  result=$("$BIN/armada-bench" load --kind callbacks --port $INGRESS_PORT --rate "$rate" --seconds "$E2E_SECONDS" \
             --connections 64 --prefix "$prefix" --sent-file "$OUT/e2e-$share.tsv")
  await_credited "$prefix" "$count"
  sql -c "CREATE TABLE IF NOT EXISTS bench_sent (reference text PRIMARY KEY, sent double precision)" \
      -c "TRUNCATE bench_sent" -c "\copy bench_sent FROM '$OUT/e2e-$share.tsv'"
  figures=$(sql -F ' ' -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
                                  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
                                  round(max(ms)::numeric, 1)
                           FROM (SELECT (extract(epoch FROM pg_xact_commit_timestamp(d.xmin)) - s.sent) * 1000 AS ms
                                 FROM deposits d JOIN bench_sent s USING (reference)) AS latency")
  read -r p50 p99 worst <<<"$figures"
  E2E[$share]="$rate/s offered, $(field "$result" achieved)/s accepted: p50 $p50 ms, p99 $p99 ms, max $worst ms"
  echo "{\"e2e\": $share, \"rate\": $rate, \"p50\": $p50, \"p99\": $p99, \"max\": $worst}" >> "$OUT/e2e.jsonl"
  log "   $share % ($rate/s): p50 $p50 ms, p99 $p99 ms, max $worst ms"
  purge_events
done
stop_workers

log "7. every process's RSS: idle, under load, after a soak of $SOAK_SECONDS s (callbacks at half the end-to-end maximum)"
start_ingress
start_workers 1
PAYMENTS_PID=${WORKERS[-1]}
OTHERS=()
for worker in provisioner lifecycle notifier; do
  env ARMADA_LOG_LEVEL=warning ARMADA_METRICS_PORT=$((9180 + ${#OTHERS[@]})) DIGITALOCEAN_API_URL=http://127.0.0.1:1 \
    TELEGRAM_API_URL=http://127.0.0.1:1 TELEGRAM_BOT_TOKEN=1000:benchNotAToken SMTP_URL=smtp://127.0.0.1:1 SMTP_FROM=bench@example.com \
    ARMADA_ENCRYPTION_KEY=$(printf '0%.0s' $(seq 1 64))  \
    "$BIN/armada-$worker" >>"$OUT/$worker.log" 2>&1 &
  WORKERS+=($!)
  OTHERS+=("$worker:$!")
done
sleep 5
declare -A RSS_IDLE_ALL RSS_LOAD_ALL RSS_SOAK_ALL
all_processes() { echo "ingress:$INGRESS_PID payments:$PAYMENTS_PID ${OTHERS[*]}"; }
for entry in $(all_processes); do RSS_IDLE_ALL[${entry%%:*}]=$(memory_mb "${entry#*:}"); done
soak_rate=$((MAX_ONE / 2))
count=$((soak_rate * SOAK_SECONDS))
seed SOAKX "$count"
"$BIN/armada-bench" load --kind callbacks --port $INGRESS_PORT --rate "$soak_rate" --seconds "$SOAK_SECONDS" --connections 64 \
  --prefix SOAKX > "$OUT/soak.json" &
SOAK_PID=$!
sleep $((SOAK_SECONDS / 10 + 1))
for entry in $(all_processes); do RSS_LOAD_ALL[${entry%%:*}]=$(memory_mb "${entry#*:}"); done
wait "$SOAK_PID"
await_credited SOAKX "$count"
for entry in $(all_processes); do RSS_SOAK_ALL[${entry%%:*}]=$(memory_mb "${entry#*:}"); done
log "   soak: $(cat "$OUT/soak.json")"
stop_workers
purge_events

log "8. the provisioner against the DigitalOcean simulator: $ORDERS orders through the API, 1 and 2 processes"
# DigitalOcean's own limits stay (250 requests a minute per token); the accounts' droplet limits
# are raised as DigitalOcean raises them on request, and there are $DO_ACCOUNTS accounts.
export ARMADA_ENCRYPTION_KEY=$(printf '0%.0s' $(seq 1 64)) DIGITALOCEAN_API_URL=http://127.0.0.1:8194
DO_TOKENS=$(seq -f "bench-fake-do-%g" 1 "$DO_ACCOUNTS" | paste -sd,)
env SIM_DO_PORT=8194 SIM_DO_TOKENS="$DO_TOKENS" SIM_DO_DROPLET_LIMIT=100000 \
  "$BIN/armada-sim" digitalocean >>"$OUT/sim.log" 2>&1 &
WORKERS+=($!)
for _ in $(seq 1 60); do curl -fs "$DIGITALOCEAN_API_URL/health" >/dev/null 2>&1 && break; sleep 0.5; done
for token in ${DO_TOKENS//,/ }; do
  BENCH_DO_TOKEN=$token "$BIN/armadactl" do-accounts add --name "$token" --token-env BENCH_DO_TOKEN --droplet-limit 100000 >/dev/null
done
PLAN_ID=$(sql -c "SELECT id FROM plans WHERE name = 'basic'")
declare -A PROVISIONING
for processes in 1 2; do
  prefix="PROV${processes}X"
  # Customers with money, through the ledger like any top-up.
  sql -c "INSERT INTO wallets (customer_id, balance) SELECT '$prefix' || n, 1000000 FROM generate_series(1, $ORDERS) n;
          INSERT INTO ledger_entries (customer_id, entry_type, amount, balance_before, balance_after, reference_type, reference_id, description)
          SELECT '$prefix' || n, 'CREDIT', 1000000, 0, 1000000, 'ADMIN_ADJUSTMENT', 'bench-$prefix' || n, 'benchmark funds'
          FROM generate_series(1, $ORDERS) n"
  start_ingress
  for i in $(seq 1 "$processes"); do
    env ARMADA_LOG_LEVEL=warning ARMADA_METRICS_PORT=$((9185 + i)) "$BIN/armada-provisioner" >>"$OUT/provisioner-$i.log" 2>&1 &
    WORKERS+=($!)
    PROVISIONER_PID=$!
  done
  sleep 2
  "$BIN/armada-bench" load --kind orders --plan "$PLAN_ID" --port $INGRESS_PORT --rate "$ORDER_RATE" \
    --seconds $((ORDERS / ORDER_RATE)) --connections 16 --prefix "$prefix" > "$OUT/orders-$processes.json"
  peak=0
  deadline=$(( $(date +%s) + 600 ))
  while :; do
    read -r active provisioning <<<"$(sql -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'ACTIVE'), count(*) FILTER (WHERE status = 'PROVISIONING')
                                                    FROM orders WHERE customer_id LIKE '$prefix%'")"
    [ "$provisioning" -gt "$peak" ] && peak=$provisioning
    [ "$active" -ge "$ORDERS" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || { log "only $active of $ORDERS orders active after 10 minutes"; exit 1; }
    sleep 0.5
  done
  rate=$(sql -c "SELECT round($ORDERS / extract(epoch FROM max(activated_at) - min(created_at))::numeric, 1) FROM orders
                 WHERE customer_id LIKE '$prefix%'")
  PROVISIONING[$processes]="$rate orders/s; at most $peak followed at once ($((peak / processes)) per process)"
  log "   $processes process(es): ${PROVISIONING[$processes]}"
  echo "{\"provisioner\": $processes, \"orders\": $ORDERS, \"perSecond\": $rate, \"peakFollowed\": $peak}" >> "$OUT/provisioner.jsonl"
  # Only this round's ingress and provisioners stop; the simulator stays.
  for pid in "${WORKERS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  WORKERS=("${WORKERS[0]}")
  purge_events
done
stop_workers

log "9. one lifecycle tick over $TICK_ORDERS orders, 1 % due, $RUNS run(s) (Deploy/bench/lifecycle-tick.sh, release build)"
TICKS=(); FANOUT=()
for run in $(seq 1 "$RUNS"); do
  line=$(ARMADA_BIN_DIR="$BIN" Deploy/bench/lifecycle-tick.sh "$TICK_ORDERS" | tail -2 | tr '\n' ' ')
  echo "$line" >> "$OUT/lifecycle.txt"
  TICKS+=("$(echo "$line" | sed -E 's/.*fan-out into the outbox\): ([0-9]+) ms.*/\1/')")
  FANOUT+=("$(echo "$line" | sed -E 's/.*about ([0-9]+) commands\/s.*/\1/')")
  log "   run $run: $line"
done
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
  for kind in callbacks contacts; do
    what=$([ "$kind" = callbacks ] && echo "signed Tripay callbacks" || echo "authenticated commands (PUT /me/contact)")
    echo "| ingress, $what: the most accepted per second (open loop, 64 connections) | ${INGRESS_MAX[$kind]} |"
    echo "| ingress, $what: at half that rate | ${INGRESS_HALF[$kind]} |"
  done
  echo "| ingress callbacks ÷ the broker's confirmed publishes | $(python3 -c "import statistics,sys; print(f'{float(sys.argv[1]) / statistics.median(float(x) for x in sys.argv[2:]):.2f}')" "${INGRESS_MAX[callbacks]}" "${BROKER_PUBLISH[@]}") |"
  for share in 25 50 80; do
    echo "| end to end, callback sent → credit committed, at $share % of one process's maximum | ${E2E[$share]} |"
  done
  for processes in 1 2; do
    echo "| provisioner, $processes process(es), $ORDERS orders at $ORDER_RATE/s through the API, $DO_ACCOUNTS DigitalOcean accounts (simulator, 250 requests/min each) | ${PROVISIONING[$processes]} |"
  done
  echo "| lifecycle tick over $TICK_ORDERS orders, 1 % due: the tick's scan and fan-out, ms | $(median "${TICKS[@]}") |"
  echo "| lifecycle: the due orders' reminder and renewal commands handled, per second (one process) | $(median "${FANOUT[@]}") |"
  echo "| payments worker RSS: idle after start / after draining $N | ${RSS_IDLE} MB / ${RSS_AFTER} MB |"
  echo
  echo "## Resident memory, MB (private in brackets): just started, under load, after $SOAK_SECONDS s of callbacks at $soak_rate/s"
  echo
  echo "| process | idle | under load | after the soak |"
  echo "| --- | --- | --- | --- |"
  for name in ingress payments provisioner lifecycle notifier; do
    echo "| armada-$name | ${RSS_IDLE_ALL[$name]} | ${RSS_LOAD_ALL[$name]} | ${RSS_SOAK_ALL[$name]} |"
  done
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
