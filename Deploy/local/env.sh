# Sourced by the other scripts: where the project-local stack lives and listens.
# Every value can be overridden from the environment.
ARMADA_ROOT="${ARMADA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
ARMADA_LOCAL="${ARMADA_LOCAL:-$ARMADA_ROOT/.local}"

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
PG_PORT="${PG_PORT:-17432}"
PG_DATA="$ARMADA_LOCAL/postgres/data"
PG_LOG="$ARMADA_LOCAL/postgres/postgres.log"
PG_SOCKET_DIR="$ARMADA_LOCAL/postgres"
PG_USER="${PG_USER:-armada}"
PG_DB="${PG_DB:-armada}"

RABBIT_BIN="${RABBIT_BIN:-/usr/lib/rabbitmq/bin}"
RABBIT_PORT="${RABBIT_PORT:-17672}"
RABBIT_DIST_PORT="${RABBIT_DIST_PORT:-17673}"
RABBIT_EPMD_PORT="${RABBIT_EPMD_PORT:-17369}"
RABBIT_MANAGEMENT_PORT="${RABBIT_MANAGEMENT_PORT:-17674}"
RABBIT_NODE="${RABBIT_NODE:-armada@localhost}"
RABBIT_HOME="$ARMADA_LOCAL/rabbitmq"

SMTP_PORT="${SMTP_PORT:-17025}"

export DATABASE_URL="${DATABASE_URL:-postgresql://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:$RABBIT_PORT/%2f}"
export RABBITMQ_MANAGEMENT_URL="${RABBITMQ_MANAGEMENT_URL:-http://guest:guest@127.0.0.1:$RABBIT_MANAGEMENT_PORT}"

# RabbitMQ reads these; HOME holds its Erlang cookie so rabbitmqctl can reach the node.
rabbit_env() {
  env HOME="$RABBIT_HOME/home" \
    RABBITMQ_NODENAME="$RABBIT_NODE" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$RABBIT_PORT" \
    RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" \
    ERL_EPMD_PORT="$RABBIT_EPMD_PORT" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$RABBIT_HOME/mnesia" \
    RABBITMQ_LOG_BASE="$RABBIT_HOME/log" \
    RABBITMQ_PID_FILE="$RABBIT_HOME/rabbitmq.pid" \
    RABBITMQ_CONFIG_FILE="$RABBIT_HOME/rabbitmq" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$RABBIT_HOME/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_HOME/enabled_plugins" \
    RABBITMQ_ENABLED_PLUGINS=rabbitmq_management \
    ERL_CRASH_DUMP="$RABBIT_HOME/log/erl_crash.dump" \
    "$@"
}

# PostgreSQL refuses to run as root. As root we run it inside a user namespace that maps
# us to an unprivileged id: the files stay owned by the caller and no system user is needed.
pg_run() {
  if [ "$(id -u)" = 0 ]; then
    unshare --user --map-user=1000 --map-group=1000 "$@"
  else
    "$@"
  fi
}

log() { printf '[armada-local] %s\n' "$*" >&2; }
