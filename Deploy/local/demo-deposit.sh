#!/usr/bin/env bash
# The deposit story through the customer API of a local system started with run.sh:
# mint a customer token, create a deposit, let the Tripay simulator pay it, show the wallet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/api.sh
CUSTOMER="${1:-demo-$(date +%s)}"

auth=(-H "Authorization: Bearer $(token "$CUSTOMER")")

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
