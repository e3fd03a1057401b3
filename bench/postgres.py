"""The ``postgres`` bench mode: a throw-away PostgreSQL, the daemon (a ``python -m cdcsink run``
process with ``source.type: postgres``) streaming it into the dev broker, and writer processes
committing rows in transactions of ``rows_per_commit`` (one multi-row ``INSERT`` each).

Measured, from the first commit of the load to the last Kafka ack (the daemon's
``cdcsink_events_acked_total{kind="row"}``, read every 100 ms):

- rows/s; the writers' own commit rate during the same run, and before the daemon
  starts (the database alone), to show which side limits;
- the slot's lag, ``pg_current_wal_lsn() - confirmed_flush_lsn``, sampled every 20 ms
  under load (p50, p99, max bytes) and after the load until it is back to 0;
- the CPU time per row of the daemon and of the server's walsender;
- one row committed after the load, from its commit to its ack (metrics read every 5 ms);
- the daemon's peak RSS, and the load average before and after.

Before the measured load, one row per table is streamed and acknowledged, so each
table's topic exists and its metadata is known (a one-off cost per topic).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.02
#: How often the daemon's metrics are read (each read costs the daemon ~1 ms of CPU).
SCRAPE_SECONDS = 0.1
#: How long the lag may take to return to 0 once everything is acknowledged.
SETTLE_SECONDS = 20.0
#: Checkpoint, heartbeat and status interval of the measured daemon: the slot's
#: confirmed position trails the acks by up to about this much.
DAEMON_INTERVAL = "1s"
COLUMNS = "id, k, amount, state, created, note"
LAG = "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = %s"


def _create_tables(dsn: str, tables: int) -> None:
    import psycopg2

    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        for t in range(tables):
            cursor.execute(f"CREATE TABLE t{t} (id bigint PRIMARY KEY, k int NOT NULL, amount numeric(12,2), "
                           "state text, created timestamptz NOT NULL DEFAULT now(), note text)")
    connection.close()


def _write(dsn: str, tables: int, first_id: int, rows: int, per_commit: int, go: Any, out: Any) -> None:
    """A writer process: ``rows`` rows with ids from ``first_id``, ``per_commit`` per
    transaction, tables in turn; reports when its first commit started and its last ended."""
    import psycopg2
    from psycopg2.extras import execute_values

    connection = psycopg2.connect(dsn)
    cursor = connection.cursor()
    note = "x" * 60
    statements = [f"INSERT INTO t{t} ({COLUMNS}) VALUES %s" for t in range(tables)]
    go.wait()
    started = time.monotonic()
    n = 0
    while n < rows:
        size = min(per_commit, rows - n)
        ids = range(first_id + n, first_id + n + size)
        execute_values(cursor, statements[(first_id + n) // per_commit % tables],
                       [(i, i % 5000, (i % 100000) / 100, "paid", "2026-11-23 10:00:00+00", note) for i in ids],
                       template="(%s, %s, %s, %s, %s, %s)", page_size=size)
        connection.commit()
        n += size
    out.put((started, time.monotonic(), rows))
    connection.close()


def write_rows(dsn: str, tables: int, first_id: int, rows: int, per_commit: int, writers: int,
               on_start: Any = None) -> tuple[float, float]:
    """``rows`` rows from ``writers`` processes; returns (first commit started, last commit ended)."""
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    share = -(-rows // writers)
    share = -(-share // per_commit) * per_commit  # whole transactions per writer
    procs, start_id = [], first_id
    for w in range(writers):
        n = max(0, min(share, first_id + rows - start_id))
        if n:
            procs.append(ctx.Process(target=_write, args=(dsn, tables, start_id, n, per_commit, go, out), daemon=True))
            start_id += n
    for p in procs:
        p.start()
    time.sleep(0.5)  # connected
    go.set()
    if on_start is not None:
        on_start()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join(30)
        if p.exitcode != 0:
            raise SystemExit(f"a writer process exited {p.exitcode}")
    return min(r[0] for r in results), max(r[1] for r in results)


def _acked_rows(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("cdcsink_events_acked_total{") and 'kind="row"' in line:
                return int(float(line.rpartition(" ")[2]))
    return 0


def _bytes_sent(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return int(sum(float(line.rpartition(" ")[2]) for line in response.read().decode().splitlines()
                       if line.startswith("cdcsink_bytes_sent_total{")))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0


def postgres_mode(bootstrap: str, rows: int, tables: int, per_commit: int, writers: int) -> dict:
    import psycopg2

    from bench.run import PARTITIONS, _peak_rss_mb
    from cdcsink.devtools.broker import free_port
    from cdcsink.devtools.postgres import PostgresServer

    run_id = uuid.uuid4().hex[:6]
    load_before = os.getloadavg()[0]
    topic, slot = f"bench-pg-{run_id}", "bench"
    with PostgresServer() as server, tempfile.TemporaryDirectory() as tmp:
        dsn = server.create_database("bench")
        _create_tables(dsn, tables)
        # The database alone (no slot yet, so these rows are never streamed): its write rate.
        alone_rows = max(per_commit * writers, rows // 5)
        a0, a1 = write_rows(dsn, tables, 10**12, alone_rows, per_commit, writers)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
        env.update(
            PYTHONPATH=str(ROOT), CDCSINK_CHANGEFEED="bench", CDCSINK_SOURCE__TYPE="postgres",
            CDCSINK_SOURCE__DSN=dsn, CDCSINK_SOURCE__SLOT=slot, CDCSINK_SOURCE__PUBLICATION="bench",
            CDCSINK_SOURCE__SNAPSHOT="never", CDCSINK_SOURCE__HEARTBEAT_INTERVAL=DAEMON_INTERVAL,
            CDCSINK_SOURCE__STATUS_INTERVAL=DAEMON_INTERVAL, CDCSINK_CHECKPOINT__INTERVAL=DAEMON_INTERVAL,
            CDCSINK_CHECKPOINT__STORE=f"{tmp}/cp.json",
            CDCSINK_SINK__URI=f"kafka://{bootstrap}/{topic}?protocol=canal-json&partition-num={PARTITIONS}&enable-tidb-extension=true",
            CDCSINK_SINK__DISPATCHERS=json.dumps([{"matcher": ["*.*"], "topic": topic + "_{table}", "partition": "index-value"}]),
            CDCSINK_HTTP__PORT=str(port), CDCSINK_LOG__LEVEL="warning",
        )
        daemon = subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], env=env, stderr=open(f"{tmp}/daemon.log", "wb"))
        watch = psycopg2.connect(dsn)
        watch.autocommit = True
        cursor = watch.cursor()

        def lag() -> int | None:
            cursor.execute(LAG + " AND active", (slot,))
            row = cursor.fetchone()
            return int(row[0]) if row and row[0] is not None else None

        def wait_for(what: str, ready: Any, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while not ready():
                if daemon.poll() is not None:
                    raise SystemExit(f"the daemon exited {daemon.returncode}:\n{Path(tmp, 'daemon.log').read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"postgres bench: {what} within {timeout:.0f} s; daemon log:\n"
                                     f"{Path(tmp, 'daemon.log').read_text()[-3000:]}")
                time.sleep(SAMPLE_SECONDS)

        def acked() -> int:
            try:
                return _acked_rows(port)
            except OSError:
                return -1

        try:
            wait_for("the slot was not streamed", lambda: lag() is not None)
            # Warm-up: one row per table, so every topic exists before the clock runs.
            server.execute("bench", *(f"INSERT INTO t{t} ({COLUMNS}) VALUES ({-1 - t}, 0, 0, 'warm', now(), '')"
                                      for t in range(tables)))
            wait_for("the warm-up rows were not acknowledged", lambda: acked() >= tables)
            base = acked()
            walsender = int(server.execute("bench", "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                                           args=(slot,))[0][0])
            cpu_before = _cpu_seconds(daemon.pid), _cpu_seconds(walsender)
            samples: list[int] = []
            done: list[float] = []

            clock: list[float] = []
            sampling = threading.Event()

            def sample_lag() -> None:
                """Its own connection and pace: the metrics scrape waits on the busy daemon."""
                connection = psycopg2.connect(dsn)
                connection.autocommit = True
                with connection.cursor() as c:
                    while not sampling.wait(SAMPLE_SECONDS):
                        c.execute(LAG, (slot,))
                        row = c.fetchone()
                        if row and row[0] is not None and clock:
                            samples.append(int(row[0]))
                connection.close()

            sampler = threading.Thread(target=sample_lag, daemon=True)
            sampler.start()
            writing = threading.Thread(
                target=lambda: done.extend(write_rows(dsn, tables, 0, rows, per_commit, writers,
                                                      on_start=lambda: clock.append(time.monotonic()))),
                daemon=True)
            writing.start()
            deadline = time.monotonic() + 1800
            last_ack = 0.0
            while True:
                n = acked()
                now = time.monotonic()
                if n >= base + rows:
                    last_ack = now
                    cpu = _cpu_seconds(daemon.pid) - cpu_before[0], _cpu_seconds(walsender) - cpu_before[1]
                    break
                if daemon.poll() is not None or now > deadline:
                    raise SystemExit(f"postgres bench stopped at {n - base} of {rows} rows acknowledged (daemon "
                                     f"{'exited ' + str(daemon.returncode) if daemon.poll() is not None else 'running'})")
                time.sleep(SCRAPE_SECONDS)
            sampling.set()
            sampler.join(10)
            writing.join(60)
            first_commit, last_commit = done
            # After the load: the lag returns to 0 once the daemon's checkpoint covers the last commit
            # and a heartbeat moves the slot past WAL written since.
            settle_deadline = last_ack + SETTLE_SECONDS
            final = lag()
            while final is None or final > 0:
                if time.monotonic() > settle_deadline:
                    break
                time.sleep(SAMPLE_SECONDS)
                final = lag()
            settled = time.monotonic() - last_ack
            # One lone row after the pause: from its commit returning to its ack.
            time.sleep(0.5)
            before = acked()
            # synchronous_commit on (PostgreSQL's default; the throw-away cluster's is off): the commit
            # flushes its WAL, which the walsender streams only once flushed (else the WAL writer's 200 ms).
            server.execute("bench", "BEGIN", "SET LOCAL synchronous_commit = on",
                           f"INSERT INTO t0 ({COLUMNS}) VALUES (-1000000, 0, 0, 'lone', now(), '')", "COMMIT")
            committed = time.monotonic()
            while acked() <= before:
                if time.monotonic() > committed + 30:
                    raise SystemExit("postgres bench: a lone row was not acknowledged within 30 s")
                time.sleep(0.005)
            single = time.monotonic() - committed
            nbytes = _bytes_sent(port)
            peak = _peak_rss_mb(daemon.pid)
        finally:
            watch.close()
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(60)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
    return {
        "events": rows, "seconds": last_ack - first_commit, "bytes": nbytes * rows // max(1, rows + tables),
        "peak_rss_mb": peak, "write_eps": rows / (last_commit - first_commit),
        "write_alone_eps": alone_rows / (a1 - a0), "writers": writers, "rows_per_commit": per_commit,
        "commits_done_s": last_commit - first_commit,
        "daemon_cpu_us_per_row": cpu[0] / rows * 1e6, "walsender_cpu_us_per_row": cpu[1] / rows * 1e6,
        "single_row_ms": single * 1000, "load_average": [load_before, os.getloadavg()[0]],
        "lag_p50_bytes": _quantile(samples, 0.5), "lag_p99_bytes": _quantile(samples, 0.99),
        "lag_max_bytes": max(samples, default=0), "lag_samples": len(samples),
        "final_lag_bytes": final if final is not None else -1, "final_lag_after_s": settled,
    }


def report_line(results: list[dict]) -> tuple[dict, str]:
    """The run with the median rate, and a line under the table describing it."""
    run = sorted(results, key=lambda r: r["events"] / r["seconds"])[len(results) // 2]
    rates = ", ".join(f"{r['events'] / r['seconds']:,.0f}" for r in results)
    writes = ", ".join(f"{r['write_eps']:,.0f}" for r in results)
    line = (f"{'':<24}{run['writers']} writers, {run['rows_per_commit']} rows per commit: committed at "
            f"{run['write_eps']:,.0f} rows/s (all done {run['commits_done_s']:.1f} s after the first commit; the database alone "
            f"{run['write_alone_eps']:,.0f} rows/s); slot lag under load p50 {run['lag_p50_bytes']:,} B, "
            f"p99 {run['lag_p99_bytes']:,} B, max {run['lag_max_bytes']:,} B ({run['lag_samples']} samples); "
            f"after the load {run['final_lag_bytes']:,} B within {run['final_lag_after_s']:.1f} s of the last ack; "
            f"CPU per row: daemon {run['daemon_cpu_us_per_row']:.1f} µs, walsender {run['walsender_cpu_us_per_row']:.1f} µs; "
            f"one row after a pause, commit to ack: {run['single_row_ms']:.0f} ms; "
            f"load average {run['load_average'][0]:.2f} before, {run['load_average'][1]:.2f} after"
            f" (median-rate run; rates {rates}; writes {writes})")
    return run, line


def summary(run: dict) -> dict:
    return {
        "postgres_eps": round(run["events"] / run["seconds"]), "postgres_write_eps": round(run["write_eps"]),
        "postgres_write_alone_eps": round(run["write_alone_eps"]),
        "postgres_lag_p50_bytes": run["lag_p50_bytes"], "postgres_lag_p99_bytes": run["lag_p99_bytes"],
        "postgres_lag_max_bytes": run["lag_max_bytes"], "postgres_final_lag_bytes": run["final_lag_bytes"],
        "postgres_peak_rss_mb": round(run["peak_rss_mb"], 1),
        "postgres_daemon_cpu_us_per_row": round(run["daemon_cpu_us_per_row"], 1),
        "postgres_single_row_ms": round(run["single_row_ms"], 1),
    }

