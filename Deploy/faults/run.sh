#!/usr/bin/env bash
# The fault suite under load (Tests/EndToEndTests/FaultLoadTests.swift, Docs/reliability.md): a
# deployment of its own (vhost, database, simulators, two payments workers, two provisioners,
# lifecycle, notifier, ingress) under a mixed load through the public API while processes are
# killed, RabbitMQ and PostgreSQL restart, RabbitMQ freezes and the simulators fail; then the
# same load on a three-node RabbitMQ cluster (Deploy/faults/cluster.sh) that loses a node. After
# each, `armadactl audit` and the suite's own checks. The reports go to
# .local/test-artifacts/fault-report-*.md.
#
#   Deploy/faults/run.sh                 the full profile: 120 customers and 4 minutes of faults, then 60
#                                        customers on the cluster (about 14 minutes)
#   Deploy/faults/run.sh --ci            the short profile Deploy/local/test.sh runs: 12 customers and 40
#                                        s, then 6 on the cluster (about 3 minutes)
#   Deploy/faults/run.sh --skip-build    with either: use the debug build as it is
#
# It restarts the local stack's RabbitMQ and PostgreSQL: run it when nothing else uses them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
export PATH="/opt/swift/usr/bin:$PATH"

profile=full
build=1
for arg in "$@"; do
  case "$arg" in
    --ci) profile=ci ;;
    --skip-build) build=0 ;;
    *) echo "usage: $0 [--ci] [--skip-build]" >&2; exit 2 ;;
  esac
done

Deploy/local/stack.sh up
export ARMADA_TEST_DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/${PG_DB}_test"
export AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/armada_test"
export ARMADA_BIN_DIR="$PWD/.build/debug"
if [ "$build" -eq 1 ]; then
  log "building"
  swift build --build-tests 2>&1 | grep -E "error|warning: unre|Compiling|Build complete" | grep -v "^\[" || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || { log "build failed"; exit 1; }
fi

log "running the fault suite under load (profile $profile)"
mkdir -p "$ARMADA_LOCAL/test-artifacts"
rm -f "$ARMADA_LOCAL"/test-artifacts/fault-report*.md
status=0
ARMADA_FAULT_LOAD="$profile" swift test --skip-build --no-parallel --filter FaultLoad > "$ARMADA_LOCAL/fault-$profile.log" 2>&1 || status=$?
# The suite's own processes are stopped by the suite; a failed run may leave some behind.
pkill -f "$PWD/.build/debug/armada-" 2>/dev/null || true
pkill -KILL -f "$PWD/Deploy/local/smtp-sink.py" 2>/dev/null || true
grep -E "✔|✘|recorded an issue" "$ARMADA_LOCAL/fault-$profile.log" | grep -v "^↳" | head -40 || true
# The cluster's nodes are the suite's to stop; a failed run may leave them behind.
Deploy/faults/cluster.sh down >/dev/null 2>&1 || true
for report in "$ARMADA_LOCAL"/test-artifacts/fault-report-*.md; do
  [ -f "$report" ] || continue
  log "report: $report"
  cat "$report"
  echo
done
exit $status
