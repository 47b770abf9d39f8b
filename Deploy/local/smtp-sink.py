#!/usr/bin/python3
"""A real SMTP server that keeps every message it accepts in a Maildir, for the tests and the
local stack.

    smtp-sink.py --host 127.0.0.1 --port 2525 --maildir DIR

Each accepted message becomes one file DIR/new/<monotonic-ns>-<n>.eml (written in DIR/tmp, then
renamed): three headers added by the sink, then the message exactly as the client sent it after
DATA (CRLF line ends, dot-stuffing undone, the final "." line left out):

    X-Sink-Envelope-From: <sender@example.com>
    X-Sink-Envelope-To: <a@example.com>, <b@example.com>
    X-Sink-Received-At: <unix time in ms>

Scripted failures, at RCPT TO, by the recipient's local part (case-insensitive):
    reject*    550 5.1.1 mailbox unavailable   (permanent)
    tempfail*  451 4.3.0 try again later       (transient)
Other recipients of the same transaction are still accepted.

No STARTTLS and no AUTH (it is a loopback sink); SMTPUTF8 and 8BITMIME are advertised; the
data size limit is 10 MB (SIZE 10485760). With --port 0 the kernel picks a free port; the
"listening" line says which. Runs until SIGTERM or SIGINT, then exits 0.

Needs aiosmtpd 1.4 (Debian 12: apt-get install python3-aiosmtpd).
"""

import argparse
import asyncio
import email.parser
import email.policy
import itertools
import os
import signal
import sys
import time

from aiosmtpd.smtp import SMTP

DATA_SIZE_LIMIT = 10 * 1024 * 1024


def angle(address):
    """An envelope address as written in SMTP: <a@b>; the null sender is <>."""
    if not address or address == "<>":
        return "<>"
    return f"<{address}>"


def local_part(address):
    local = address.rpartition("@")[0] if "@" in address else address
    return local.strip('"').lower()


def one_line(text):
    return " ".join(str(text).split())


class Maildir:
    def __init__(self, root):
        self.root = root
        self.counter = itertools.count(1)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    def store(self, data):
        name = f"{time.monotonic_ns()}-{next(self.counter)}.eml"
        tmp = os.path.join(self.root, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.root, "new", name))
        return name


class SinkHandler:
    def __init__(self, maildir):
        self.maildir = maildir

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = local_part(address)
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        received_at = time.time_ns() // 1_000_000
        prefix = (
            f"X-Sink-Envelope-From: {angle(envelope.mail_from)}\r\n"
            f"X-Sink-Envelope-To: {', '.join(angle(r) for r in envelope.rcpt_tos)}\r\n"
            f"X-Sink-Received-At: {received_at}\r\n"
        ).encode("utf-8", errors="surrogateescape")
        raw = envelope.original_content or b""
        try:
            name = self.maildir.store(prefix + raw)
        except OSError as error:
            print(f"smtp-sink: cannot store a message: {error}", file=sys.stderr, flush=True)
            return "451 4.3.0 cannot store the message"
        try:
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
            message_id = one_line(headers.get("Message-ID", "") or "") or "-"
        except Exception:  # a message without parseable headers is still stored
            message_id = "-"
        recipients = ", ".join(one_line(r) for r in envelope.rcpt_tos)
        print(f"stored to={recipients} message-id={message_id}", flush=True)
        return f"250 OK stored as {name}"


async def serve(args):
    loop = asyncio.get_running_loop()
    maildir = Maildir(args.maildir)
    handler = SinkHandler(maildir)

    def factory():
        return SMTP(
            handler,
            data_size_limit=DATA_SIZE_LIMIT,
            enable_SMTPUTF8=True,
            decode_data=False,  # keeps the bytes as sent, and advertises 8BITMIME
            hostname="smtp-sink.localhost",  # not socket.getfqdn(): no DNS look-up
            ident="smtp-sink",
            tls_context=None,  # no STARTTLS
            loop=loop,
        )

    try:
        server = await loop.create_server(factory, host=args.host, port=args.port)
    except OSError as error:
        print(f"smtp-sink: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr, flush=True)
        return 1

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    port = server.sockets[0].getsockname()[1]
    print(f"smtp-sink listening on {args.host}:{port} maildir {args.maildir}", flush=True)

    await stop.wait()
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=2)
    except asyncio.TimeoutError:
        pass
    return 0


def main():
    parser = argparse.ArgumentParser(description="SMTP sink that stores every message in a Maildir.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525, help="0: any free port (printed)")
    parser.add_argument("--maildir", required=True, help="created with new/, cur/ and tmp/")
    args = parser.parse_args()
    try:
        code = asyncio.run(serve(args))
    except KeyboardInterrupt:  # a SIGINT before the handlers were installed
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
