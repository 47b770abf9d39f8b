#!/usr/bin/env bash
# The VPS story through the customer API of a local system started with run.sh: a customer
# tops up through Tripay (the simulator pays), orders a monthly VPS, sees it ACTIVE with an IP,
# powers it off and on, moves time with lifecycle ticks (a reminder, then auto-renewal), and
# deletes it; then shows the notifications it was sent by email and Telegram.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/api.sh
CUSTOMER="${1:-demo-$(date +%s)}"

auth=(-H "Authorization: Bearer $(token "$CUSTOMER")")
key() { cat /proc/sys/kernel/random/uuid; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
step() { printf '\n== %s\n' "$*"; }

# Polls GET $1 until the Python expression $2 over the JSON body `d` holds (at most $3 seconds).
wait_for() {
  local deadline=$(( $(date +%s) + ${3:-60} )) body
  while :; do
    body=$(curl -s "${auth[@]}" "$1")
    python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$body" && { echo "$body"; return 0; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "gave up waiting: $body" >&2; return 1; }
    sleep 1
  done
}

echo "customer $CUSTOMER"
CHAT=$(( RANDOM * 32768 + RANDOM + 100000 ))
step "where notifications go: $CUSTOMER@example.test and Telegram chat $CHAT, in English"
COMMAND=$(curl -s "${auth[@]}" -X PUT -H 'Content-Type: application/json' -H "Idempotency-Key: $(key)" \
  -d "{\"email\": \"$CUSTOMER@example.test\", \"name\": \"Demo Customer\", \"telegramChatId\": \"$CHAT\", \"locale\": \"en\"}" \
  "$API/me/contact" | field '["commandId"]')
wait_for "$API/commands/$COMMAND" 'd["status"] != "pending"' 30 | field '["status"]' | sed 's/^/contact: /'

step "top up 150,000 through Tripay"
COMMAND=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' -H "Idempotency-Key: $(key)" \
  -d '{"amount": 150000, "method": "BRIVA"}' "$API/wallet/deposits" | field '["commandId"]')
REFERENCE=$(wait_for "$API/commands/$COMMAND" 'd["status"] != "pending"' 30 | field '["result"]["reference"]')
curl -s -X POST "$SIM/_sim/transactions/$REFERENCE/pay" > /dev/null
wait_for "$API/wallet" 'd["balance"] >= 150000' 30 | field '["balance"]' | sed 's/^/balance: /'

step "the catalog"
PLANS=$(curl -s "${auth[@]}" "$API/plans")
echo "$PLANS" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["items"]:
    print("  %-9s %d vCPU %5d MB  " % (p["name"], p["vcpu"], p["memoryMb"]) + ", ".join("%s %d (%d/month)" % (o["billingPeriod"].lower(), o["price"], o["monthlyEquivalent"]) for o in p["periods"]))'
PLAN=$(echo "$PLANS" | python3 -c 'import json,sys; print([p["id"] for p in json.load(sys.stdin)["items"] if p["name"] == "basic"][0])')

step "order a monthly basic VPS"
ORDER=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' -H "Idempotency-Key: $(key)" \
  -d "{\"planId\": \"$PLAN\", \"image\": \"ubuntu-24-04-x64\", \"billingPeriod\": \"MONTHLY\", \"hostname\": \"demo-web\"}" \
  "$API/orders" | field '["orderId"]')
echo "order $ORDER; waiting for the droplet"
wait_for "$API/orders/$ORDER" 'd["status"] in ("ACTIVE", "FAILED")' 120 \
  | field '["status"] + " at " + d.get("publicIpv4", "-") + ", expires " + d.get("expiresAt", "-")'
echo "balance: $(curl -s "${auth[@]}" "$API/wallet" | field '["balance"]')"

step "power off, then on (the order shows what DigitalOcean confirmed)"
curl -s "${auth[@]}" -X POST -H "Idempotency-Key: $(key)" "$API/orders/$ORDER/power-off" > /dev/null
wait_for "$API/orders/$ORDER" 'd.get("dropletStatus") == "off"' 60 | field '["dropletStatus"]' | sed 's/^/droplet: /'
curl -s "${auth[@]}" -X POST -H "Idempotency-Key: $(key)" "$API/orders/$ORDER/power-on" > /dev/null
wait_for "$API/orders/$ORDER" 'd.get("dropletStatus") == "active"' 60 | field '["dropletStatus"]' | sed 's/^/droplet: /'

step "move time with lifecycle ticks: a reminder 30 h before expiry, then auto-renewal inside its last 24 h"
EXPIRES=$(curl -s "${auth[@]}" "$API/orders/$ORDER" | field '["expiresAt"]')
at() { python3 -c "import datetime,sys; e=datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')); print((e+datetime.timedelta(hours=float(sys.argv[2]))).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$EXPIRES" "$1"; }
.build/debug/armadactl lifecycle tick --at "$(at -30)"
wait_for "$API/orders/$ORDER" 'd["status"] == "EXPIRING_SOON"' 60 | field '["status"]' | sed 's/^/status: /'
.build/debug/armadactl lifecycle tick --at "$(at -20)"
wait_for "$API/orders/$ORDER" 'd["expiresAt"] != "'"$EXPIRES"'"' 60 | field '["status"] + ", now expires " + d["expiresAt"]' | sed 's/^/renewed: /'
echo "balance: $(curl -s "${auth[@]}" "$API/wallet" | field '["balance"]')"

step "delete it"
curl -s "${auth[@]}" -X DELETE -H "Idempotency-Key: $(key)" "$API/orders/$ORDER" > /dev/null
wait_for "$API/orders/$ORDER" 'd["status"] == "TERMINATED"' 60 \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d.get("terminationReason")); [print("  %s -> %s by %s: %s" % (h.get("from"), h["to"], h["actor"], h.get("reason"))) for h in d["history"]]'

step "the notifications (GET /notifications), as the customer sees them"
sleep 3
curl -s "${auth[@]}" "$API/notifications?limit=20" | python3 -c 'import json,sys
for n in reversed(json.load(sys.stdin)["items"]):
    print("  %-20s %-7s %s  [%s]" % (n["type"], n["status"], n["subject"], ", ".join("%s %s" % (d["channel"], d["status"]) for d in n["deliveries"])))'
TELEGRAM_API_URL="${TELEGRAM_API_URL:-http://127.0.0.1:${SIM_TELEGRAM_PORT:-8093}}"
step "what the Telegram chat received (the simulator's record)"
curl -s "$TELEGRAM_API_URL/_sim/messages?chat_id=$CHAT" | python3 -c 'import json,sys
for m in json.load(sys.stdin)["messages"]:
    print("  " + m["receivedAt"] + "  " + m["text"].splitlines()[2 if len(m["text"].splitlines()) > 2 else 0][:100])'
echo
echo "the emails are files in .local/mail/new/: grep -l '$CUSTOMER@example.test' .local/mail/new/*"
