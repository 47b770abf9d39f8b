"""The Celery peer of armada-payments' PAID-callback credit, for Deploy/bench/run.sh.

The same work with the same guarantees: one transaction per message that claims the inbox row
(a redelivery is a no-op), locks the deposit, marks it PAID, credits the wallet through the
ledger (idempotent on the deposit), records the callback and writes the `event.deposit.paid`
event to the outbox; the statements are those pg_stat_statements shows for Armada's handler.
Late acks (`acks_late`): a message is acknowledged after its transaction committed.
`relay()` publishes the outbox rows with publisher confirms and marks them sent, as Armada's
outbox relay does.

    celery -A celery_credit worker -Q peer.credit --concurrency 4 --pool prefork
    python celery_credit.py produce PREFIX N      # N tasks onto peer.credit
    python celery_credit.py relay                 # the outbox relay (until killed)
"""
import json
import os
import sys
import uuid

import psycopg
from celery import Celery

BROKER = os.environ.get("PEER_BROKER_URL", "amqp://guest:guest@127.0.0.1:17672/armada_bench")
DSN = os.environ.get("PEER_DATABASE_URL", "postgresql://armada@127.0.0.1:17432/armada_bench")
CONSUMER = "celery-peer"
NAMESPACE = uuid.UUID("5b0e0f4e-6a7d-4c1e-9d3a-2f8e1c6b9a10")

app = Celery("armada_peer", broker=BROKER)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=4,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue="peer.credit",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_connection = None


def connection():
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(DSN, autocommit=False)
    return _connection


@app.task(name="credit")
def credit(message_id, raw_body):
    callback = json.loads(raw_body)
    conn = connection()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO inbox (consumer, message_id, message_type) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (CONSUMER, message_id, "payments.tripay-callback"))
        if cur.rowcount == 0:
            return "duplicate"
        cur.execute("SAVEPOINT handler")
        cur.execute(
            "SELECT id, customer_id, amount, fee, total_amount, method, status, reference, merchant_ref, expires_at, flag, promo_code "
            "FROM deposits WHERE reference = %s FOR UPDATE", (callback["reference"],))
        deposit = cur.fetchone()
        if deposit is None or deposit[6] != "PENDING":
            return "ignored"
        deposit_id, customer, amount = str(deposit[0]), deposit[1], deposit[2]
        cur.execute(
            "UPDATE deposits SET status = %s, paid_at = COALESCE(%s, paid_at), updated_at = now() WHERE id = %s AND status = %s",
            ("PAID", None, deposit_id, "PENDING"))
        # Ledger.credit's statements (Sources/Wallet/Tables/Ledger+Writes.swift): lock the wallet
        # (created the first time), then the entry and the new balance in one statement.
        cur.execute("SELECT balance FROM wallets WHERE customer_id = %s FOR UPDATE", (customer,))
        row = cur.fetchone()
        if row is None:
            cur.execute("INSERT INTO wallets (customer_id) VALUES (%s) ON CONFLICT DO NOTHING", (customer,))
            cur.execute("SELECT balance FROM wallets WHERE customer_id = %s FOR UPDATE", (customer,))
            row = cur.fetchone()
        balance = row[0]
        cur.execute(
            "WITH entry AS (INSERT INTO ledger_entries (customer_id, entry_type, amount, balance_before, balance_after, "
            "reference_type, reference_id, description, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) "
            "ON CONFLICT (reference_type, reference_id) DO NOTHING RETURNING id), "
            "wallet AS (UPDATE wallets SET balance = %s, updated_at = now() FROM entry WHERE customer_id = %s) "
            "SELECT id FROM entry",
            (customer, "CREDIT", amount, balance, balance + amount, "DEPOSIT", deposit_id, f"Deposit {callback['reference']}", "{}",
             balance + amount, customer))
        if cur.fetchone() is None:
            cur.execute(
                "SELECT id, customer_id, amount, balance_before, balance_after FROM ledger_entries "
                "WHERE reference_type = %s AND reference_id = %s", ("DEPOSIT", deposit_id))
        event_id = str(uuid.uuid5(NAMESPACE, "deposit-paid|" + deposit_id))
        event = json.dumps({
            "id": event_id, "type": "event.deposit.paid", "version": 1, "occurredAt": "2026-11-26T00:00:00Z",
            "correlationId": callback["reference"],
            "data": {"customerId": customer, "depositId": deposit_id, "reference": callback["reference"], "amount": amount,
                     "bonus": 0, "balanceAfter": balance + amount}})
        cur.execute(
            "INSERT INTO tripay_callbacks (message_id, reference, merchant_ref, status, total_amount, amount_received, deposit_id, "
            "outcome, raw_body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (message_id, callback["reference"], callback.get("merchant_ref"), "PAID", callback["total_amount"],
             callback["amount_received"], deposit_id, "CREDITED", raw_body))
        cur.execute(
            "INSERT INTO outbox (message_id, exchange, routing_key, message_type, body) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (message_id) DO NOTHING",
            (event_id, "armada.events", "event.deposit.paid", "event.deposit.paid", event))
    return "credited"


def produce(prefix, count):
    raw = ('{"reference":"%s","merchant_ref":"DEP-X","payment_method":"BRI Virtual Account","payment_method_code":"BRIVA",'
           '"total_amount":154250,"fee_merchant":0,"fee_customer":4250,"total_fee":4250,"amount_received":150000,'
           '"is_closed_payment":1,"status":"PAID","paid_at":1764058530,"note":null}')
    # Publisher confirms, and the connection closed before the process ends: without them the
    # last publishes can still sit in a buffer when the producer exits, and are lost.
    app.conf.broker_transport_options = {"confirm_publish": True}
    with app.connection_for_write() as connection, connection.Producer() as producer:
        for n in range(1, count + 1):
            reference = f"{prefix}{n}"
            message_id = str(uuid.uuid5(NAMESPACE, "tripay-callback|" + reference + "|PAID"))
            credit.apply_async(args=(message_id, raw % reference), producer=producer)


def relay():
    """Armada's relay, in Python: claim rows, publish each with a confirm, mark them sent."""
    import pika
    params = pika.URLParameters(BROKER)
    channel = pika.BlockingConnection(params).channel()
    channel.confirm_delivery()
    conn = psycopg.connect(DSN, autocommit=False)
    while True:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT id, exchange, routing_key, message_type, body, message_id FROM outbox WHERE published_at IS NULL "
                "ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED")
            rows = cur.fetchall()
            for row in rows:
                channel.basic_publish(
                    row[1], row[2], row[4].encode(),
                    pika.BasicProperties(message_id=str(row[5]), type=row[3], delivery_mode=2))
            if rows:
                cur.execute("UPDATE outbox SET published_at = now() WHERE id = ANY(%s)", ([r[0] for r in rows],))
        if not rows:
            import time
            time.sleep(0.05)


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "relay":
        relay()
