#!/usr/bin/env bash
# The deposit story through the customer API of a local system started with run.sh:
# mint a customer token, create a deposit, let the Tripay simulator pay it, show the wallet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
API="http://127.0.0.1:${ARMADA_HTTP_PORT:-8080}/api/v1"
SIM="http://127.0.0.1:${SIM_TRIPAY_PORT:-8091}"
SECRET="${ARMADA_JWT_SECRET:-$(cat "$ARMADA_LOCAL/dev-jwt-secret")}"
CUSTOMER="${1:-demo-$(date +%s)}"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
HEADER=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
PAYLOAD=$(printf '{"sub":"%s","role":"customer","exp":%s}' "$CUSTOMER" "$(( $(date +%s) + 3600 ))" | b64url)
SIGNATURE=$(printf '%s.%s' "$HEADER" "$PAYLOAD" | openssl dgst -sha256 -hmac "$SECRET" -binary | b64url)
TOKEN="$HEADER.$PAYLOAD.$SIGNATURE"
auth=(-H "Authorization: Bearer $TOKEN")

echo "customer $CUSTOMER"
ACCEPTED=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' -H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" \
  -d '{"amount": 150000, "method": "BRIVA"}' "$API/wallet/deposits")
echo "POST /wallet/deposits -> $ACCEPTED"
COMMAND=$(echo "$ACCEPTED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commandId"])')
for _ in $(seq 1 50); do
  STATUS=$(curl -s "${auth[@]}" "$API/commands/$COMMAND")
  echo "$STATUS" | grep -q '"pending"' || break
  sleep 0.2
done
echo "GET /commands/$COMMAND -> $STATUS"
REFERENCE=$(echo "$STATUS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["reference"])')
curl -s -X POST "$SIM/_sim/transactions/$REFERENCE/pay" > /dev/null
echo "Tripay simulator: $REFERENCE paid; waiting for the callback"
sleep 1.5
echo "GET /wallet -> $(curl -s "${auth[@]}" "$API/wallet")"
