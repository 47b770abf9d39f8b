#!/usr/bin/env bash
# The project-local stack: PostgreSQL and RabbitMQ on loopback, data under .local/ (git-ignored),
# non-default ports, no system service touched. Idempotent: every command may be run again.
#
#   stack.sh install            install missing Debian packages
#   stack.sh up                 install, start both, wait until they answer, create the database
#   stack.sh down               stop both
#   stack.sh status             say what runs
#   stack.sh rabbit-stop|rabbit-start   stop or start the broker alone (fault tests use these)
#   stack.sh rabbit-pid         print the broker's Erlang VM pid (for SIGSTOP in fault tests)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PACKAGES=(librabbitmq-dev libpq-dev libcurl4-openssl-dev postgresql rabbitmq-server python3-aiosmtpd python3-venv util-linux pkg-config curl openssl)
# What only the tests use: a headless browser for the ops page, promtool for the alert rules,
# and the validators of Deploy/ (systemd units, the compose file).
TOOL_PACKAGES=(chromium chromium-driver python3-selenium prometheus docker-compose systemd)

install_packages() {
  local missing=() wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=("${PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  # policy-rc.d keeps the packages' own system services from starting (no system service is touched).
  if [ "$(id -u)" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' RETURN
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
}

# pg_stat_statements is loaded so the benchmark harness can read what SQL a message causes, and
# commit times are kept so it can tell when a callback's credit committed (end-to-end latency).
PG_EXTRA_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c track_commit_timestamp=on"

pg_running() { [ -f "$PG_DATA/postmaster.pid" ] && pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_up() {
  mkdir -p "$ARMADA_LOCAL/postgres"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initialising PostgreSQL in $PG_DATA"
    pg_run "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >"$ARMADA_LOCAL/postgres/initdb.log"
  fi
  if ! pg_running; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
      -o "-p $PG_PORT -k $PG_SOCKET_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB $PG_EXTRA_OPTIONS" \
      start >/dev/null
  fi
  for _ in $(seq 1 60); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.5
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || { log "PostgreSQL did not become ready; see $PG_LOG"; exit 1; }
  for db in "$PG_DB" "${PG_DB}_test"; do
    psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
      || psql -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -c "CREATE DATABASE \"$db\""
  done
}

pg_down() {
  if pg_running; then
    log "stopping PostgreSQL"
    pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
  fi
}

rabbit_running() { rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" status >/dev/null 2>&1; }

rabbit_config() {
  mkdir -p "$RABBIT_HOME/home" "$RABBIT_HOME/mnesia" "$RABBIT_HOME/log"
  cat > "$RABBIT_HOME/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
loopback_users.guest = true
disk_free_limit.absolute = 200MB
log.file.level = warning
log.console = false
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBIT_MANAGEMENT_PORT
management_agent.disable_metrics_collector = false
collect_statistics_interval = 1000
CONF
  echo "[]." > "$RABBIT_HOME/advanced.config"
  # The management API: ready/unacknowledged counts and publish/deliver rates per queue, which
  # AMQP alone does not give (armadactl queues, the ops page, the queue gauges).
  echo "[rabbitmq_management]." > "$RABBIT_HOME/enabled_plugins"
  # A fixed cookie per checkout; it only guards the loopback-bound distribution port.
  if [ ! -f "$RABBIT_HOME/home/.erlang.cookie" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RABBIT_HOME/home/.erlang.cookie"
    chmod 400 "$RABBIT_HOME/home/.erlang.cookie"
  fi
}

rabbit_up() {
  rabbit_config
  if ! rabbit_running; then
    log "starting RabbitMQ on 127.0.0.1:$RABBIT_PORT"
    # The Debian wrapper in /usr/sbin would switch to the rabbitmq system user; the real script runs as us.
    rabbit_env setsid "$RABBIT_BIN/rabbitmq-server" >"$RABBIT_HOME/log/stdout.log" 2>&1 < /dev/null &
    disown || true
  fi
  local ok=""
  for _ in $(seq 1 120); do
    if rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" await_startup --timeout 60 >/dev/null 2>&1; then ok=1; break; fi
    sleep 1
  done
  if [ -z "$ok" ]; then
    log "RabbitMQ did not become ready; see $RABBIT_HOME/log"
    tail -n 30 "$RABBIT_HOME/log/stdout.log" >&2 || true
    exit 1
  fi
  # Tests get vhosts of their own, so a local system started with run.sh never consumes their messages.
  for vhost in armada_test armada_test_isolated; do
    rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" add_vhost "$vhost" >/dev/null 2>&1 || true
    rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null
  done
}

rabbit_down() {
  local pid=""
  [ -f "$RABBIT_HOME/rabbitmq.pid" ] && pid=$(cat "$RABBIT_HOME/rabbitmq.pid")
  # A frozen (SIGSTOPped) node cannot answer stop: wake it first.
  [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null || true
  if rabbit_running; then
    log "stopping RabbitMQ"
    rabbit_env timeout 30 "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" stop >/dev/null 2>&1 || true
  fi
  if [ -n "$pid" ]; then
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$RABBIT_HOME/rabbitmq.pid"
}

case "${1:-up}" in
  install) install_packages ;;
  install-tools) install_packages "${TOOL_PACKAGES[@]}" ;;
  up) install_packages; pg_up; rabbit_up
      log "PostgreSQL: $DATABASE_URL"
      log "RabbitMQ:   $AMQP_URL" ;;
  down) rabbit_down; pg_down ;;
  restart-postgres) pg_down; pg_up ;;
  status)
    pg_running && echo "postgres: running on 127.0.0.1:$PG_PORT" || echo "postgres: stopped"
    rabbit_running && echo "rabbitmq: running on 127.0.0.1:$RABBIT_PORT" || echo "rabbitmq: stopped" ;;
  rabbit-stop) rabbit_down ;;
  rabbit-start) rabbit_up ;;
  rabbit-pid) cat "$RABBIT_HOME/rabbitmq.pid" ;;
  *) echo "usage: $0 install|install-tools|up|down|status|restart-postgres|rabbit-stop|rabbit-start|rabbit-pid" >&2; exit 2 ;;
esac
