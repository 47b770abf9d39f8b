#!/usr/bin/env bash
# Sends Tripay's payment_status callback, signed like Tripay signs it, to the local ingress.
#
#   send-test-callback.sh                      new customer and deposit of 150,000, then PAID
#   send-test-callback.sh REFERENCE STATUS     an existing reference; STATUS is PAID|EXPIRED|FAILED|REFUND
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/env.sh
KEY="${TRIPAY_PRIVATE_KEY:-$(cat "$ARMADA_LOCAL/dev-tripay-private-key")}"
URL="http://127.0.0.1:${ARMADA_HTTP_PORT:-8080}/api/v1/webhooks/tripay"

REFERENCE="${1:-}"
STATUS="${2:-PAID}"
CUSTOMER=""
if [ -z "$REFERENCE" ]; then
  CUSTOMER="demo-$(date +%s)"
  REFERENCE="T0001DEMO$(date +%s)"
  .build/debug/armadactl deposit create --customer "$CUSTOMER" --reference "$REFERENCE" --amount 150000 --fee 4250
fi

BODY=$(printf '{"reference":"%s","merchant_ref":"DEP-LOCAL","payment_method":"BRI Virtual Account","payment_method_code":"BRIVA","total_amount":154250,"fee_merchant":0,"fee_customer":4250,"total_fee":4250,"amount_received":150000,"is_closed_payment":1,"status":"%s","paid_at":%s,"note":null}' \
  "$REFERENCE" "$STATUS" "$(date +%s)")
SIGNATURE=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$KEY" | awk '{print $NF}')

echo "POST $URL ($STATUS for $REFERENCE)"
curl -s -X POST "$URL" -H 'Content-Type: application/json' -H 'X-Callback-Event: payment_status' \
  -H "X-Callback-Signature: $SIGNATURE" --data-binary "$BODY"
echo
if [ -n "$CUSTOMER" ]; then
  sleep 1
  echo "balance of $CUSTOMER: $(.build/debug/armadactl wallet balance --customer "$CUSTOMER")"
fi
