#!/usr/bin/env bash
# The API contract, checked from outside: schemathesis (PyPI) generates requests from
# Docs/openapi.yaml against a running ingress, with every check on (config: schemathesis.toml,
# hooks.py), and fails on any failure. Deploy/local/test.sh runs it after the suites; by hand:
#
#   Deploy/contract/run.sh                 # needs the stack up, the build, the test database migrated and the
#                                          # isolated vhost's topology applied (what Deploy/local/test.sh does first)
#   ARMADA_CONTRACT_EXAMPLES=200 ARMADA_CONTRACT_SEED=random Deploy/contract/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh

VENV="$ARMADA_LOCAL/venv-schemathesis"
REQUIREMENTS=Deploy/contract/requirements.txt
# (Re)installed whenever the pinned set changed.
if ! cmp -s "$REQUIREMENTS" "$VENV/installed-requirements.txt" 2>/dev/null; then
  log "installing schemathesis (pinned, $REQUIREMENTS) into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/installed-requirements.txt"
fi

# A port nobody listens on, so a stray ingress (another secret) is never the one tested.
PORT="${ARMADA_CONTRACT_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
SECRET="contract-run-fake-jwt-secret-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')"
export DATABASE_URL="${ARMADA_TEST_DATABASE_URL:-postgresql://$PG_USER@127.0.0.1:$PG_PORT/${PG_DB}_test}"
# A vhost no worker consumes: the commands the run publishes are purged afterwards.
export AMQP_URL="${ARMADA_TEST_ISOLATED_AMQP_URL:-amqp://guest:guest@127.0.0.1:$RABBIT_PORT/armada_test_isolated}"
LOG="$ARMADA_LOCAL/logs/contract-ingress.log"
mkdir -p "$(dirname "$LOG")"
# Rate limits off: schemathesis sends thousands of requests from one address with one token
# (the limits have their own test, RateLimitTests).
env ARMADA_HTTP_PORT="$PORT" ARMADA_JWT_SECRET="$SECRET" TRIPAY_PRIVATE_KEY="contract-fake-tripay-key" \
  ARMADA_RATE_LIMIT_PER_IP=off ARMADA_RATE_LIMIT_PER_CUSTOMER=off \
  ARMADA_ENCRYPTION_KEY="$(printf "c0%.0s" $(seq 32))" \
  ARMADA_LOG_LEVEL=warning .build/debug/armada-ingress >"$LOG" 2>&1 &
INGRESS=$!
VHOST="${AMQP_URL##*/}"
trap 'kill $INGRESS 2>/dev/null || true; rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -p "$VHOST" purge_queue armada.payments >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 100); do
  kill -0 "$INGRESS" 2>/dev/null || { log "contract ingress exited: $(tail -5 "$LOG")"; exit 1; }
  curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null || { log "contract ingress not ready: $(tail -5 "$LOG")"; exit 1; }

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
HEADER=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
PAYLOAD=$(printf '{"sub":"contract-admin","role":"admin","exp":%s}' "$(($(date +%s) + 3600))" | b64url)
SIGNATURE=$(printf '%s.%s' "$HEADER" "$PAYLOAD" | openssl dgst -sha256 -hmac "$SECRET" -binary | b64url)

SEED="${ARMADA_CONTRACT_SEED:-20261125}"
seed_args=()
[ "$SEED" = random ] || seed_args=(--seed "$SEED")
status=0
SCHEMATHESIS_HOOKS=Deploy.contract.hooks PYTHONPATH="$PWD" "$VENV/bin/schemathesis" --config-file Deploy/contract/schemathesis.toml \
  run Docs/openapi.yaml --url "http://127.0.0.1:$PORT" -H "Authorization: Bearer $HEADER.$PAYLOAD.$SIGNATURE" \
  --checks all -n "${ARMADA_CONTRACT_EXAMPLES:-50}" "${seed_args[@]}" --no-color || status=$?
exit $status
