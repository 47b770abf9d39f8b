#!/usr/bin/python3
"""The whole Armada story, played against a running local system (Deploy/local/run.sh) through
its public HTTP API, printed as a timeline:

  an admin creates a promo; a customer sets where notifications go, tops up through Tripay with
  the promo (the simulator pays), orders a monthly VPS and sees it provisioned; then time moves
  on through lifecycle ticks: a reminder, auto-renewal, another reminder, a renewal that fails
  for want of balance, suspension, termination. Last, the customer's notifications as the API
  shows them and as the SMTP sink and the Telegram simulator received them.

  Deploy/local/run.sh demo            (or: /usr/bin/python3 Deploy/local/demo.py)

Tokens are minted with the local development secret, as a frontend's auth service would.
Ticks carry a logical time: `armadactl lifecycle tick --at T` is how operators and tests move
time. Exits 1 with the reason when any step does not happen as told.
"""
import base64
import datetime
import email
import email.policy
import glob
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCAL = os.environ.get("ARMADA_LOCAL", os.path.join(ROOT, ".local"))
API = "http://127.0.0.1:%s/api/v1" % os.environ.get("ARMADA_HTTP_PORT", "8080")
TRIPAY = os.environ.get("TRIPAY_API_URL", "http://127.0.0.1:%s" % os.environ.get("SIM_TRIPAY_PORT", "8091"))
TELEGRAM = os.environ.get("TELEGRAM_API_URL", "http://127.0.0.1:%s" % os.environ.get("SIM_TELEGRAM_PORT", "8093"))
MAILDIR = os.path.join(LOCAL, "mail", "new")
ARMADACTL = os.path.join(ROOT, ".build", "debug", "armadactl")
STARTED = time.monotonic()


class DemoFailed(Exception):
    pass


def say(text, logical=None):
    clock = "[+%6.1fs]" % (time.monotonic() - STARTED)
    when = (" " + logical.strftime("%Y-%m-%d %H:%M UTC") + " |") if logical else ""
    print("%s%s %s" % (clock, when, text), flush=True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(subject, role="customer"):
    secret = os.environ.get("ARMADA_JWT_SECRET")
    if not secret:
        with open(os.path.join(LOCAL, "dev-jwt-secret")) as handle:
            secret = handle.read().strip()
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": subject, "role": role, "exp": int(time.time()) + 3600}).encode())
    signature = hmac.new(secret.encode(), ("%s.%s" % (header, claims)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (header, claims, b64url(signature))


def call(method, url, bearer=None, body=None, idempotent=False):
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = "Bearer " + bearer
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if idempotent:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else {})
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"raw": text}


def expect(status, body, wanted, what):
    if status not in wanted:
        raise DemoFailed("%s: HTTP %d %s" % (what, status, json.dumps(body)))
    return body


def wait_for(what, probe, timeout=90):
    """Calls probe() until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last and last[0]:
            return last[1]
        time.sleep(0.5)
    raise DemoFailed("gave up waiting for %s (last seen: %s)" % (what, json.dumps(last[1] if last else None)))


def command_result(bearer, command_id, what):
    def probe():
        status, body = call("GET", "%s/commands/%s" % (API, command_id), bearer)
        return (status == 200 and body.get("status") != "pending", body)
    body = wait_for(what, probe, 60)
    if body.get("status") != "succeeded":
        raise DemoFailed("%s: %s" % (what, json.dumps(body)))
    return body.get("result", {})


def order_until(bearer, order_id, what, condition, timeout=120):
    def probe():
        status, body = call("GET", "%s/orders/%s" % (API, order_id), bearer)
        return (status == 200 and condition(body), body)
    return wait_for(what, probe, timeout)


def rupiah(amount):
    return "Rp " + "{:,}".format(amount).replace(",", ".")


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def tick(at):
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    run = subprocess.run([ARMADACTL, "lifecycle", "tick", "--at", stamp], capture_output=True, text=True)
    if run.returncode != 0:
        raise DemoFailed("armadactl lifecycle tick --at %s: %s" % (stamp, run.stderr or run.stdout))
    say("lifecycle tick", at)


def main():
    customer = "demo-%s" % uuid.uuid4().hex[:8]
    admin = token("demo-operator", "admin")
    me = token(customer)
    chat = str(100000 + int(uuid.uuid4().int % 900000000))
    address = "%s@example.test" % customer
    promo_code = "DEMO%s" % uuid.uuid4().hex[:6].upper()
    print("Armada demo: customer %s, email %s, Telegram chat %s\n" % (customer, address, chat))

    status, health = call("GET", API.replace("/api/v1", "/ready"))
    if status != 200:
        raise DemoFailed("the ingress is not ready (%d %s): start it with Deploy/local/run.sh" % (status, health))

    # The catalog decides the amounts: two months of the cheapest monthly plan, plus a 10 % promo.
    status, plans = call("GET", API + "/plans", me)
    expect(status, plans, [200], "GET /plans")
    monthly = [(o["price"], p) for p in plans["items"] for o in p["periods"] if o["billingPeriod"] == "MONTHLY"]
    if not monthly:
        raise DemoFailed("the catalog has no monthly plan")
    price, plan = min(monthly, key=lambda pair: pair[0])
    top_up = 2 * price

    status, body = call("POST", API + "/admin/promos", admin, {
        "code": promo_code, "name": "Demo 10 % top-up bonus", "type": "DEPOSIT_BONUS", "bonusType": "PERCENTAGE",
        "bonusValue": 10, "maxUsesPerCustomer": 1}, idempotent=True)
    command_result(admin, expect(status, body, [202], "POST /admin/promos")["commandId"], "the promo")
    say("admin created promo %s: 10 %% bonus on a top-up" % promo_code)

    status, body = call("PUT", API + "/me/contact", me, {
        "email": address, "name": "Demo Customer", "telegramChatId": chat, "locale": "en", "timeZone": "Asia/Jakarta"},
        idempotent=True)
    command_result(me, expect(status, body, [202], "PUT /me/contact")["commandId"], "the contact")
    say("customer set contact: email and Telegram, English, Asia/Jakarta")

    status, preview = call("POST", API + "/promos/validate", me, {"code": promo_code, "amount": top_up})
    expect(status, preview, [200], "POST /promos/validate")
    status, body = call("POST", API + "/wallet/deposits", me, {"amount": top_up, "method": "BRIVA", "promoCode": promo_code},
                        idempotent=True)
    deposit = command_result(me, expect(status, body, [202], "POST /wallet/deposits")["commandId"], "the deposit")
    say("top-up of %s through Tripay (BRIVA), promo bonus %s: reference %s, pay %s" % (
        rupiah(top_up), rupiah(preview["bonus"]), deposit["reference"], rupiah(deposit.get("totalAmount", top_up))))
    status, body = call("POST", "%s/_sim/transactions/%s/pay" % (TRIPAY, deposit["reference"]))
    expect(status, body, [200, 202], "the Tripay simulator's pay")
    say("Tripay: the customer paid; Tripay sends the signed callback")
    credited = top_up + preview["bonus"]

    def wallet_at_least(amount):
        def probe():
            status, body = call("GET", API + "/wallet", me)
            return (status == 200 and body["balance"] >= amount, body)
        return probe
    wallet = wait_for("the credit", wallet_at_least(credited), 60)
    if wallet["balance"] != credited:
        raise DemoFailed("a new customer's balance after one top-up is %d, not %d" % (wallet["balance"], credited))
    say("wallet credited once: balance %s (%s + bonus %s)" % (rupiah(wallet["balance"]), rupiah(top_up), rupiah(preview["bonus"])))

    status, body = call("POST", API + "/orders", me, {
        "planId": plan["id"], "image": "ubuntu-24-04-x64", "billingPeriod": "MONTHLY", "hostname": "demo-web"}, idempotent=True)
    order_id = expect(status, body, [202], "POST /orders")["orderId"]
    say("ordered a monthly %s VPS for %s/month: order %s" % (plan["name"], rupiah(price), order_id))
    order = order_until(me, order_id, "the droplet", lambda o: o["status"] in ("ACTIVE", "FAILED"), 180)
    if order["status"] != "ACTIVE":
        raise DemoFailed("provisioning failed: %s" % json.dumps(order))
    first_end = parse_time(order["expiresAt"])
    say("provisioned on DigitalOcean: ACTIVE at %s, paid until %s" % (order.get("publicIpv4", "?"), order["expiresAt"]))
    status, wallet = call("GET", API + "/wallet", me)
    say("balance %s" % rupiah(wallet["balance"]))

    print("\nTime moves on (each tick carries its logical time):")
    tick(first_end - datetime.timedelta(hours=167))
    order_until(me, order_id, "the first reminder", lambda o: o["status"] == "EXPIRING_SOON", 60)
    say("reminder: expires in 7 days (EXPIRING_SOON)", first_end - datetime.timedelta(hours=167))

    tick(first_end - datetime.timedelta(hours=20))
    order = order_until(me, order_id, "the renewal", lambda o: parse_time(o["expiresAt"]) > first_end, 60)
    second_end = parse_time(order["expiresAt"])
    status, wallet = call("GET", API + "/wallet", me)
    say("auto-renewed from the wallet: %s, paid until %s, balance %s" % (order["status"], order["expiresAt"], rupiah(wallet["balance"])),
        first_end - datetime.timedelta(hours=20))

    tick(second_end - datetime.timedelta(hours=167))
    order_until(me, order_id, "the second reminder", lambda o: o["status"] == "EXPIRING_SOON", 60)
    say("reminder: expires in 7 days; the balance no longer covers a month", second_end - datetime.timedelta(hours=167))

    tick(second_end - datetime.timedelta(hours=20))
    def renewal_failed():
        status, body = call("GET", API + "/notifications?limit=50", me)
        failed = [n for n in body.get("items", []) if n["type"] == "VPS_RENEWAL_FAILED"]
        return (status == 200 and failed, failed)
    wait_for("the failed renewal", renewal_failed, 60)
    say("auto-renewal failed: balance %s, price %s" % (rupiah(wallet["balance"]), rupiah(price)), second_end - datetime.timedelta(hours=20))

    tick(second_end + datetime.timedelta(hours=1))
    order = order_until(me, order_id, "the suspension", lambda o: o["status"] == "SUSPENDED", 90)
    say("expired unpaid: SUSPENDED (powered off), 24 h to pay", second_end + datetime.timedelta(hours=1))

    tick(second_end + datetime.timedelta(hours=25))
    order = order_until(me, order_id, "the termination", lambda o: o["status"] == "TERMINATED", 90)
    say("grace over: TERMINATED (%s), the droplet destroyed" % order.get("terminationReason", "-"),
        second_end + datetime.timedelta(hours=25))

    print("\nThe order's history:")
    for step in order.get("history", []):
        print("  %s  %-13s -> %-13s by %-10s %s" % (step["at"], step.get("from", "-"), step["to"], step["actor"], step.get("reason", "")))

    # Every notification delivered on both channels before it is shown.
    expected = {"DEPOSIT_PAID", "ORDER_CREATED", "VPS_ACTIVE", "VPS_EXPIRING_SOON", "VPS_RENEWED", "VPS_RENEWAL_FAILED",
                "VPS_SUSPENDED", "VPS_TERMINATED"}
    def all_delivered():
        status, body = call("GET", API + "/notifications?limit=50", me)
        items = body.get("items", [])
        seen = {n["type"] for n in items}
        settled = all(n["status"] != "queued" for n in items)
        return (status == 200 and expected <= seen and settled, items)
    notifications = wait_for("every notification delivered", all_delivered, 120)
    print("\nThe customer's notifications (GET /api/v1/notifications), oldest first:")
    for n in reversed(notifications):
        channels = ", ".join("%s %s" % (d["channel"], d["status"]) for d in n["deliveries"])
        print("  %s  %-19s %-6s %s  [%s]" % (n["occurredAt"], n["type"], n["status"], n["subject"], channels))

    print("\nWhat the SMTP sink received for %s (%s):" % (address, MAILDIR))
    mails = []
    for path in glob.glob(os.path.join(MAILDIR, "*")):
        with open(path, "rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        if address in str(message.get("To", "")):
            mails.append((os.path.getmtime(path), message))
    for _, message in sorted(mails, key=lambda pair: pair[0]):
        print("  %s  %s" % (message.get("Date", "?"), message.get("Subject", "?")))

    print("\nWhat Telegram chat %s received (the simulator's record):" % chat)
    status, body = call("GET", "%s/_sim/messages?chat_id=%s" % (TELEGRAM, chat))
    messages = body.get("messages", []) if status == 200 else []
    for message in messages:
        lines = [line for line in message["text"].splitlines() if line.strip()]
        # The line after the greeting says what happened.
        first = lines[1] if len(lines) > 1 and lines[0].startswith(("Hello", "Halo")) else (lines[0] if lines else "")
        print("  %s  %s" % (message["receivedAt"], first[:100]))

    sent = {n["type"] for n in notifications if n["status"] == "sent"}
    if len(mails) < len(expected) or len(messages) < len(expected) or not expected <= sent:
        raise DemoFailed("expected every one of %d notifications by email and Telegram: %d emails, %d Telegram messages, sent %s"
                         % (len(expected), len(mails), len(messages), sorted(sent)))
    print("\nThe story is complete: %d notifications, each by email and Telegram." % len(expected))


if __name__ == "__main__":
    try:
        main()
    except DemoFailed as failure:
        print("\nDEMO FAILED: %s" % failure, file=sys.stderr)
        sys.exit(1)
    except urllib.error.URLError as error:
        print("\nDEMO FAILED: cannot reach the system (%s); start it with Deploy/local/run.sh" % error, file=sys.stderr)
        sys.exit(1)
