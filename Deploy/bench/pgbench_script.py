#!/usr/bin/env python3
"""Turns one transaction of Armada's payments worker, as PostgreSQL logged it, into a pgbench script.

The SQL is not retyped: the statements and their parameters come from PostgreSQL's statement log
(log_statement = 'all') of a worker crediting PAID callbacks, and each parameter's type from
PREPARE on the server. Values that name the callbacks' rows are rewritten so every pgbench
transaction credits fresh deposits seeded the same way (Deploy/bench/run.sh, "pgbench"):

  bench-PGBX-<n>   the customer           -> 'bench-PGBX-' || K
  PGBX<n>          the Tripay reference   -> 'PGBX' || K
  <deposit uuid>   the deposit's id       -> md5('pgbdep' || K)::uuid
  any other uuid   message and event ids  -> unique per transaction and client

where K = :base + i for the i-th callback of the batch (base = run * 10^8 + client * 10^6 + j * B,
j counting the client's transactions). Everything else (amounts, JSON bodies, statuses) is sent as
logged.

usage: pgbench_script.py LOG DEPOSITS_TSV OUT.sql DATABASE_URL
  LOG           the slice of the PostgreSQL log written while the worker ran
  DEPOSITS_TSV  "<deposit id>\t<reference>" of the seeded capture deposits
Prints the number of callbacks in the captured transaction (B).
"""
import re
import subprocess
import sys

LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (LOG|DETAIL|ERROR|STATEMENT):  (.*)$")
EXECUTE = re.compile(r"^execute [^:]+: (.*)$", re.S)
PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')", re.S)
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TOKEN = re.compile(r"bench-PGBX-(\d+)|PGBX(\d+)|" + UUID.pattern)


def entries(path):
    """(pid, kind, text) per log entry; continuation lines (tab-prefixed) joined."""
    current = None
    with open(path, encoding="utf-8", errors="replace") as log:
        for raw in log:
            line = raw.rstrip("\n")
            match = LINE.match(line)
            if match:
                if current:
                    yield current
                current = [match.group(1), match.group(2), match.group(3)]
            elif current is not None:
                current[2] += "\n" + (line[1:] if line.startswith("\t") else line)
    if current:
        yield current


def transactions(path):
    """Each backend's statements from BEGIN to COMMIT: [(sql, [param or None])]."""
    open_by_pid, done = {}, []
    pending = {}
    for pid, kind, text in entries(path):
        if kind == "LOG":
            match = EXECUTE.match(text)
            if not match:
                continue
            sql = match.group(1).strip()
            statement = [sql, []]
            pending[pid] = statement
            if sql.startswith("BEGIN"):
                open_by_pid[pid] = [statement]
            elif pid in open_by_pid:
                open_by_pid[pid].append(statement)
                if sql == "COMMIT":
                    done.append(open_by_pid.pop(pid))
        elif kind == "DETAIL" and text.startswith("parameters:") and pid in pending:
            values = []
            for number, value in PARAM.findall(text):
                values.append(None if value == "NULL" else value[1:-1].replace("''", "'"))
            pending[pid][1] = values
    return done


def parameter_types(url, statements):
    """The server's type for every $n of every statement (PREPARE, then pg_prepared_statements)."""
    script = []
    for index, (sql, params) in enumerate(statements):
        if params:
            script.append(f"PREPARE armada_bench_{index} AS {sql};")
    script.append("SELECT name, parameter_types::text FROM pg_prepared_statements ORDER BY name;")
    output = subprocess.run(
        ["psql", "-X", "-q", "-tA", "-F", "\t", "-v", "ON_ERROR_STOP=1", url],
        input="\n".join(script), capture_output=True, text=True, check=True).stdout
    types = {}
    for line in output.splitlines():
        name, listed = line.split("\t")
        types[int(name.rsplit("_", 1)[1])] = [t.strip('"') for t in listed.strip("{}").split(",")] if listed != "{}" else []
    return types


def literal(text):
    """An E'' string with no colon in it: pgbench would take ':name' inside a quoted literal for a
    variable; the octal escape is read by the server's parser, at no cost per execution."""
    if ":" not in text:
        return "'" + text.replace("'", "''") + "'"
    return "E'" + text.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\072") + "'"


def main():
    log, deposits_tsv, out, url = sys.argv[1:5]
    deposit_ids = {}
    with open(deposits_tsv) as listing:
        for line in listing:
            deposit_id, reference = line.rstrip("\n").split("\t")
            deposit_ids[deposit_id.lower()] = int(reference[len("PGBX"):])
    # The worker's fullest batch: the transaction whose statements name the most callbacks.
    def callbacks(transaction):
        return {int(n) for sql, params in transaction for p in params if p for n in re.findall(r"PGBX(\d+)", p)}
    candidates = [t for t in transactions(log) if any(s.startswith("INSERT INTO inbox") for s, _ in t)]
    if not candidates:
        sys.exit("no worker transaction in the log")
    chosen = max(candidates, key=lambda t: len(callbacks(t)))
    numbers = sorted(callbacks(chosen))
    position = {n: i for i, n in enumerate(numbers)}
    types = parameter_types(url, chosen)

    def k(n):
        return f"(:base::bigint + {position[int(n)]})"

    def expression(value, sql_type):
        if value is None:
            return f"NULL::{sql_type}"
        parts, last = [], 0
        for match in TOKEN.finditer(value):
            if match.start() > last:
                parts.append(literal(value[last:match.start()]))
            customer, reference = match.group(1), match.group(2)
            if customer:
                parts.append(f"'bench-PGBX-' || {k(customer)}")
            elif reference:
                parts.append(f"'PGBX' || {k(reference)}")
            elif match.group(0).lower() in deposit_ids and deposit_ids[match.group(0).lower()] in position:
                parts.append(f"md5('pgbdep' || {k(deposit_ids[match.group(0).lower()])})::uuid::text")
            else:
                parts.append(f"md5('{match.group(0).lower()}-' || :run || '-' || :client_id || '-' || :j)::uuid::text")
            last = match.end()
        if last < len(value):
            parts.append(literal(value[last:]))
        joined = " || ".join(f"({p})" for p in parts) if parts else "''"
        return f"({joined})::{sql_type}"

    lines = [
        "-- Generated by Deploy/bench/pgbench_script.py from the statement log of Armada's payments worker:",
        f"-- one transaction crediting {len(numbers)} PAID callbacks, {len(chosen)} statements.",
        "\\set j :j + 1",
        f"\\set base :run * 100000000 + :client_id * 1000000 + :j * {len(numbers)}",
    ]
    for index, (sql, params) in enumerate(chosen):
        statement_types = types.get(index, [])
        def substitute(match):
            number = int(match.group(1))
            return expression(params[number - 1], statement_types[number - 1])
        text = re.sub(r"\$(\d+)\b", substitute, sql) if params else sql
        lines.append(text.rstrip(";") + ";")
    with open(out, "w") as script:
        script.write("\n".join(lines) + "\n")
    print(len(numbers))


if __name__ == "__main__":
    main()
