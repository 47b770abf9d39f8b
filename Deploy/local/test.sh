#!/usr/bin/env bash
# Runs every test: installs what is missing, starts the local stack, builds, migrates the test
# database, runs the suites against real PostgreSQL and RabbitMQ, then the broker fault suite
# (which stops and freezes the broker) and the fault suite under load's short profile on their own.
#
#   Deploy/local/test.sh              everything
#   Deploy/local/test.sh --filter X   only tests matching X (fault suite included when it matches;
#                                      "Bench" runs the benchmark harness's CI profile)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh

export PATH="/opt/swift/usr/bin:$PATH"
Deploy/local/stack.sh up
Deploy/local/stack.sh install-tools
# kubernetes-validate (PyPI, pinned) for Deploy/kubernetes, (re)installed when the pins change.
DEPLOY_VENV="$ARMADA_LOCAL/venv-deploy"
if ! cmp -s Deploy/kubernetes/requirements.txt "$DEPLOY_VENV/installed-requirements.txt" 2>/dev/null; then
  log "installing kubernetes-validate (pinned, Deploy/kubernetes/requirements.txt) into $DEPLOY_VENV"
  rm -rf "$DEPLOY_VENV"
  /usr/bin/python3 -m venv "$DEPLOY_VENV"
  "$DEPLOY_VENV/bin/pip" install -q -r Deploy/kubernetes/requirements.txt
  cp Deploy/kubernetes/requirements.txt "$DEPLOY_VENV/installed-requirements.txt"
fi

export ARMADA_TEST_DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/${PG_DB}_test"
export AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/armada_test"
export ARMADA_TEST_ISOLATED_AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/armada_test_isolated"
export ARMADA_BIN_DIR="$PWD/.build/debug"

log "checking formatting (swift format, .swift-format)"
swift format lint --strict -r Sources Tests Package.swift

log "building"
# Progress lines are dropped; every diagnostic is shown, except one a dependency prints about its
# own package layout ('swift-distributed-tracing': a CMakeLists.txt it does not declare). A build
# error fails the run.
set +e
swift build --build-tests 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\]|^'swift-distributed-tracing': found 1 file|^warning: 'swift-distributed-tracing': found 1 file|CMakeLists.txt$"
build_status=${PIPESTATUS[0]}
set -e
[ "$build_status" -eq 0 ] || { log "build failed"; exit "$build_status"; }

# Every run starts from an empty test database and empty test vhosts: what an earlier run left
# (orders a tick would find due, messages waiting in a delay tier) must not work on this one.
pkill -f "$PWD/.build/debug/armada-" 2>/dev/null || true
log "recreating the test database and vhosts"
psql -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres \
  -c "DROP DATABASE IF EXISTS \"${PG_DB}_test\" WITH (FORCE)" -c "CREATE DATABASE \"${PG_DB}_test\""
for vhost in armada_test armada_test_isolated; do
  rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" delete_vhost "$vhost" >/dev/null 2>&1 || true
  rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" add_vhost "$vhost" >/dev/null
  rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null
done
log "migrating the test database"
DATABASE_URL="$ARMADA_TEST_DATABASE_URL" .build/debug/armadactl migrate
for url in "$AMQP_URL" "$ARMADA_TEST_ISOLATED_AMQP_URL"; do AMQP_URL="$url" .build/debug/armadactl topology apply; done

# The suites' processes, and the SMTP sinks they start by absolute path (run.sh's own sink is
# started by a relative one and is left alone). The sinks get SIGKILL: a child the test process
# spawns inherits its blocked signal mask, SIGTERM included, so asyncio's handler never runs.
cleanup() {
  pkill -f "$PWD/.build/debug/armada-" 2>/dev/null || true
  pkill -KILL -f "$PWD/Deploy/local/smtp-sink.py" 2>/dev/null || true
}
trap cleanup EXIT

status=0
log "running the test suites"
swift test --skip-build --skip BrokerFault --skip ProvisioningLoad --skip ProvisionerCrash --skip "\.LifecycleEndToEnd|LifecycleLoad" \
  --skip IsolatedProcess --skip HostileMessages "$@" \
  || status=$?

# The suites above leave their running system up (they share it); nothing of it may consume or
# relay while the next step runs.
cleanup

# Suites that run workers of their own on the isolated vhost (their outbox relays share the test
# database, so while they run they could publish the shared suites' messages into a vhost nobody
# consumes), flood the shared one, or move time (lifecycle ticks decide for every order in the
# database) run here one at a time: the isolated-process suite, the 300-order provisioning load,
# the provisioner killed mid-create, the lifecycle rules and schedulers, and 30 simulated days of
# lifecycle ticks over 1,000 orders, and the hostile messages put on every queue (walking the
# shared dead-letter queues would hold other suites' letters for a moment).
if [ $# -eq 0 ] || [[ "$*" == *Load* ]] || [[ "$*" == *ProvisionerCrash* ]] || [[ "$*" == *IsolatedProcess* ]] \
  || [[ "$*" == *Lifecycle* ]] || [[ "$*" == *HostileMessages* ]]; then
  log "running the isolated-process, load, crash and lifecycle suites alone, one after the other"
  swift test --skip-build --no-parallel \
    --filter "IsolatedProcess|ProvisioningLoad|ProvisionerCrash|\.LifecycleEndToEnd|LifecycleLoad|HostileMessages" \
    || status=$?
fi

if [ $# -eq 0 ] || [[ "$*" == *Contract* ]]; then
  log "checking the API contract (schemathesis against a running ingress, Docs/openapi.yaml)"
  Deploy/contract/run.sh || status=$?
fi

cleanup

if [ $# -eq 0 ] || [[ "$*" == *BrokerFault* ]] || [[ "$*" == *Fault* ]]; then
  log "running the broker fault suite (stops and freezes the broker)"
  ARMADA_FAULT_TESTS=1 swift test --skip-build --no-parallel --filter BrokerFault || status=$?
fi

# The fault suite under load, short profile (the full one is its own command: Deploy/faults/run.sh).
if [ $# -eq 0 ] || [[ "$*" == *FaultLoad* ]]; then
  Deploy/faults/run.sh --ci --skip-build || status=$?
fi

# The benchmark harness's CI profile: a release build and every step of Deploy/bench/run.sh at a
# small size (about two minutes after the build), so the harness is known to work; its figures
# are not the report's (that is the full profile, its own command).
if [ $# -eq 0 ] || [[ "$*" == *Bench* ]]; then
  log "running the benchmark harness's CI profile (Deploy/bench/run.sh --ci)"
  Deploy/bench/run.sh --ci > "$ARMADA_LOCAL/bench-ci.log" 2>&1 || { status=1; tail -40 "$ARMADA_LOCAL/bench-ci.log"; }
  grep -E "^\[armada-local\] (  |[0-9]\.)" "$ARMADA_LOCAL/bench-ci.log" || true
fi

# The README's run command as a new user meets it: the whole local system up, up again (a second
# run restarts it), the demo's full story through the public API, then stop, which stops
# everything (the stack too, so this runs last).
if [ $# -eq 0 ] || [[ "$*" == *Demo* ]]; then
  log "the local system: run.sh twice, run.sh demo, run.sh stop"
  demo_log="$ARMADA_LOCAL/demo-run.log"
  { Deploy/local/run.sh && Deploy/local/run.sh && Deploy/local/run.sh demo; } > "$demo_log" 2>&1 \
    || { status=1; tail -60 "$demo_log"; }
  grep -E "^\[\+|^The story|DEMO FAILED" "$demo_log" || true
  # The whole story's logs hold no development secret (keys, tokens, the bot token that is part
  # of Telegram's URL) and no JWT (a base64url JSON header starts "eyJ").
  logs=("$ARMADA_LOCAL"/logs/armada-{ingress,payments,provisioner,lifecycle,notifier}.log)
  leaked=0
  for secret in "$ARMADA_LOCAL"/dev-*; do
    if grep -qF -- "$(cat "$secret")" "${logs[@]}"; then log "a secret ($(basename "$secret")) is in the local system's logs"; leaked=1; fi
  done
  if grep -q "eyJ" "${logs[@]}"; then log "a JWT is in the local system's logs"; leaked=1; fi
  lines=$(cat "${logs[@]}" | wc -l)
  if [ "$leaked" -eq 0 ]; then log "no secret in the local system's logs ($lines lines)"; else status=1; fi
  Deploy/local/run.sh stop > /dev/null 2>&1 || status=1
  if Deploy/local/run.sh status | grep -q ": running"; then log "run.sh stop left something running"; status=1; fi
fi
exit $status
