"""The daemon as users run it: a subprocess configured by env vars only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cdcsink.devtools.broker import DevBroker, free_port
from cdcsink.metrics import METRICS
from tests.workload import generate
import tests.kafka_client
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]
ROOT = Path(__file__).resolve().parents[2]


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def scrape(port: int) -> dict[str, float]:
    status, text = get(port, "/metrics")
    assert status == 200
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def metric(values: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, value in values.items():
        base = key.split("{", 1)[0]
        if base != name:
            continue
        if all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += value
    return total


def start_daemon(bootstrap: str, input_path: Path, checkpoint: Path, port: int, topic: str, **extra_env: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CDCSINK_CHANGEFEED="daemon-test",
        CDCSINK_SOURCE__TYPE="file",
        CDCSINK_SOURCE__PATH=str(input_path),
        CDCSINK_SOURCE__FOLLOW="true",
        CDCSINK_SOURCE__POLL_INTERVAL="50ms",
        CDCSINK_SINK__URI=with_client(f"kafka://{bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=2"),
        CDCSINK_SINK__WRITE_TIMEOUT="3s",
        CDCSINK_SINK__READ_TIMEOUT="3s",
        CDCSINK_CHECKPOINT__STORE=f"file://{checkpoint}",
        CDCSINK_CHECKPOINT__INTERVAL="200ms",
        CDCSINK_HTTP__HOST="127.0.0.1",
        CDCSINK_HTTP__PORT=str(port),
        CDCSINK_READY_CHECK_INTERVAL="300ms",
        CDCSINK_LOG__FORMAT="json",
        CDCSINK_RESTART__BACKOFF_MIN="200ms",
        CDCSINK_RESTART__BACKOFF_MAX="1s",
    )
    env.update(extra_env)
    return subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_metrics_readiness_and_sigterm(tmp_path, unique):
    first = generate(600, tables=3, resolved_every=50)
    path = first.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    port = free_port()
    confluent = tests.kafka_client.current == "confluent"
    # librdkafka's statistics every 300 ms, so its metrics show within the test.
    extra = {"CDCSINK_SINK__CLIENT_CONF": '{"statistics.interval.ms": 300}'} if confluent else {}
    with DevBroker(log_path=tmp_path / "broker.log") as broker:
        proc = start_daemon(broker.bootstrap, path, checkpoint, port, f"daemon-{unique}", **extra)
        try:
            wait_for(lambda: get(port, "/healthz")[0] == 200)
            wait_for(lambda: get(port, "/readyz")[0] == 200)
            wait_for(lambda: checkpoint.exists() and json.loads(checkpoint.read_text())["checkpoint_ts"] == first.last_resolved)
            if confluent:  # a statistics window with requests in it
                wait_for(lambda: metric(scrape(port), "cdcsink_kafka_broker_rtt_seconds", quantile="0.99") > 0)
            before = scrape(port)
            # Every documented metric is exposed (histograms as _bucket/_sum/_count).
            exposed = {k.split("{", 1)[0] for k in before}
            for name, (kind, _, _) in METRICS.items():
                wanted = name + "_count" if kind == "histogram" else name
                if name == "cdcsink_send_errors_total":
                    continue  # a (topic, error class) pair appears with its first error
                if name in ("cdcsink_source_lag", "cdcsink_source_committed_offset"):
                    continue  # per input partition of a kafka source
                if name.startswith("cdcsink_kafka_") and not confluent:
                    assert wanted not in exposed, f"{name}: librdkafka's statistics, not aiokafka's"
                    continue
                assert wanted in exposed, name
            if confluent:  # by broker address, each a bounded label
                for quantile in ("0.5", "0.95", "0.99"):
                    assert metric(before, "cdcsink_kafka_broker_rtt_seconds", broker=broker.bootstrap, quantile=quantile) > 0
                assert f'cdcsink_kafka_broker_outbuf_requests{{broker="{broker.bootstrap}",changefeed="daemon-test"}}' in before
                assert metric(before, "cdcsink_kafka_retries_total") == 0
                assert metric(before, "cdcsink_kafka_queue_messages") == 0
            assert metric(before, "cdcsink_events_received_total", kind="row", changefeed="daemon-test") == 600
            assert metric(before, "cdcsink_events_acked_total", kind="row") == 600
            assert metric(before, "cdcsink_checkpoint_ts") == first.last_resolved
            assert metric(before, "cdcsink_checkpoint_lag_seconds") > 0
            assert metric(before, "cdcsink_messages_sent_total") >= 600
            assert metric(before, "cdcsink_send_latency_seconds_count") >= 1
            # Read-to-ack covers at least the send-to-ack time of the same batches.
            assert metric(before, "cdcsink_read_to_ack_seconds_count") == metric(before, "cdcsink_send_latency_seconds_count")
            assert metric(before, "cdcsink_read_to_ack_seconds_sum") >= metric(before, "cdcsink_send_latency_seconds_sum")
            # More events move the counters.
            more = generate(300, tables=3, resolved_every=50, seed=3, start_ts=first.last_resolved + 1)
            with path.open("ab") as f:
                f.write(b"".join(line + b"\n" for line in more.lines))
            wait_for(lambda: metric(scrape(port), "cdcsink_events_acked_total", kind="row") == 900)
            after = scrape(port)
            assert metric(after, "cdcsink_bytes_sent_total") > metric(before, "cdcsink_bytes_sent_total")
            wait_for(lambda: metric(scrape(port), "cdcsink_checkpoint_ts") == more.last_resolved)
            assert metric(scrape(port), "cdcsink_checkpoint_writes_total") > metric(before, "cdcsink_checkpoint_writes_total")
            # Trailing rows after the last resolved event, then SIGTERM: drained and checkpointed.
            tail = generate(40, tables=3, resolved_every=1000, seed=4, start_ts=more.last_resolved + 1)
            with path.open("ab") as f:
                f.write(b"".join(line + b"\n" for line in tail.lines))
            wait_for(lambda: metric(scrape(port), "cdcsink_events_acked_total", kind="row") == 940)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()
            stored = json.loads(checkpoint.read_text())
            assert stored["checkpoint_ts"] == more.last_resolved
            # The trailing rows are covered by the position: a restart would not send them again.
            assert stored["position"]["offset"] == path.stat().st_size
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        logs = proc.stderr.read().decode().splitlines()
        assert logs and all(json.loads(line) for line in logs if line.startswith("{"))


def test_readyz_turns_503_when_the_broker_goes_away(tmp_path, unique):
    path = generate(100, tables=2, resolved_every=20).write(tmp_path / "events.ndjson")
    port = free_port()
    broker = DevBroker(log_path=tmp_path / "broker.log").start()
    proc = start_daemon(broker.bootstrap, path, tmp_path / "cp.json", port, f"ready-{unique}")
    try:
        wait_for(lambda: get(port, "/readyz")[0] == 200)
        broker.stop()
        status, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(port, "/readyz")), timeout=30)
        assert json.loads(body)["ready"] is False and json.loads(body)["reason"]
        assert get(port, "/healthz")[0] == 200  # alive, just not ready
    finally:
        broker.stop()
        proc.kill()
        proc.wait()


def test_a_broker_unreachable_at_start_is_waited_for(tmp_path, unique):
    from tests.workload import Seen, check_delivery, decode_canal

    w = generate(200, tables=2, keys=20, resolved_every=20)
    path = w.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    port, broker_port = free_port(), free_port()
    topic = f"late-{unique}"
    proc = start_daemon(f"127.0.0.1:{broker_port}", path, checkpoint, port, topic)
    broker = None
    try:
        # No broker yet: alive, not ready (with the reason), restarting with backoff.
        wait_for(lambda: get(port, "/healthz")[0] == 200)
        wait_for(lambda: metric(scrape(port), "cdcsink_restarts_total") >= 2, timeout=60)
        status, body = get(port, "/readyz")
        assert status == 503 and json.loads(body)["reason"]
        assert proc.poll() is None and not checkpoint.exists()
        broker = DevBroker(port=broker_port, log_path=tmp_path / "broker.log").start()
        wait_for(lambda: checkpoint.exists() and json.loads(checkpoint.read_text())["checkpoint_ts"] == w.last_resolved, timeout=90)
        wait_for(lambda: get(port, "/readyz")[0] == 200)
        records = await_read(broker.bootstrap, topic)
        check_delivery(w, Seen({tp: decode_canal(recs) for tp, recs in records.items()}))
    finally:
        if broker is not None:
            broker.stop()
        proc.kill()
        proc.wait()


def test_restart_max_attempts_gives_up_with_one_line(tmp_path, unique):
    path = generate(20, tables=1, resolved_every=10).write(tmp_path / "events.ndjson")
    proc = start_daemon(
        f"127.0.0.1:{free_port()}", path, tmp_path / "cp.json", free_port(), f"giveup-{unique}",
        CDCSINK_RESTART__MAX_ATTEMPTS="2", CDCSINK_RESTART__BACKOFF_MAX="300ms", CDCSINK_LOG__FORMAT="console",
    )
    try:
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode()
    assert stderr.count("restarting from the checkpoint") == 2, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert "giving up after 2 restarts without progress" in last, stderr[-3000:]


def test_restarts_from_checkpoint_when_the_broker_comes_back(tmp_path, unique):
    from tests.workload import Seen, Workload, check_delivery, decode_canal

    first = generate(300, tables=2, keys=20, resolved_every=30)
    path = first.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    port = free_port()
    broker = DevBroker(log_path=tmp_path / "broker.log").start()
    topic = f"restart-{unique}"
    proc = start_daemon(broker.bootstrap, path, checkpoint, port, topic)
    try:
        wait_for(lambda: checkpoint.exists() and json.loads(checkpoint.read_text())["checkpoint_ts"] == first.last_resolved)
        broker.stop()
        second = generate(300, tables=2, keys=20, resolved_every=30, seed=5, start_ts=first.last_resolved + 1)
        with path.open("ab") as f:
            f.write(b"".join(line + b"\n" for line in second.lines))
        wait_for(lambda: metric(scrape(port), "cdcsink_restarts_total") >= 1, timeout=60)
        assert get(port, "/readyz")[0] == 503
        # A new (empty) broker on the same address: the daemon resumes from the checkpoint.
        broker = DevBroker(port=broker.port, log_path=tmp_path / "broker2.log").start()
        wait_for(lambda: json.loads(checkpoint.read_text())["checkpoint_ts"] == second.last_resolved, timeout=90)
        wait_for(lambda: get(port, "/readyz")[0] == 200)
        records = await_read(broker.bootstrap, topic)
        seen = Seen({tp: decode_canal(recs) for tp, recs in records.items()})
        # Everything after the stored checkpoint reached the new broker, in order, none skipped.
        check_delivery(Workload(per_key=second.per_key, rows=second.rows), seen)
    finally:
        broker.stop()
        proc.kill()
        proc.wait()


def await_read(bootstrap: str, topic: str):
    import asyncio

    from cdcsink.devtools.readback import read_back

    return asyncio.run(read_back(bootstrap, {(topic, 0): 10**9, (topic, 1): 10**9}, idle_timeout=1.5))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_sigint_and_sighup_drain_like_sigterm(tmp_path, unique, signum):
    w = generate(200, tables=2, resolved_every=20)
    path = w.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    port = free_port()
    with DevBroker(log_path=tmp_path / "broker.log") as broker:
        proc = start_daemon(broker.bootstrap, path, checkpoint, port, f"sigint-{unique}")
        try:
            wait_for(lambda: get(port, "/readyz")[0] == 200)
            wait_for(lambda: metric(scrape(port), "cdcsink_events_acked_total", kind="row") == 200)
            proc.send_signal(signum)
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    stored = json.loads(checkpoint.read_text())
    assert stored["checkpoint_ts"] == w.last_resolved and stored["position"]["offset"] == path.stat().st_size
    logs = proc.stderr.read().decode()
    assert f'"signal": "{signum.name}"' in logs
    # Nothing is logged per event at info level: a handful of lines for 200 rows.
    assert len(logs.splitlines()) < 30, logs[-3000:]


def test_one_daemon_per_checkpoint(tmp_path, unique):
    """A second daemon on the same checkpoint is refused (even with a port of its own), so
    appended rows are sent once; the lock dies with its holder, kill -9 included."""
    from tests.workload import Seen, check_delivery, decode_canal, workload_from_lines

    first = generate(300, tables=2, keys=20, resolved_every=30)
    path = first.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    port = free_port()
    topic = f"single-{unique}"
    with DevBroker(log_path=tmp_path / "broker.log") as broker:
        proc = start_daemon(broker.bootstrap, path, checkpoint, port, topic)
        second = third = None
        try:
            wait_for(lambda: checkpoint.exists() and json.loads(checkpoint.read_text())["checkpoint_ts"] == first.last_resolved)
            second = start_daemon(broker.bootstrap, path, checkpoint, 0, topic)
            assert second.wait(timeout=30) == 2
            lines = second.stderr.read().decode().strip().splitlines()
            last = json.loads(lines[-1])  # json logs: the last line is a log line with the exit code
            assert last["exit_code"] == 2, lines[-3:]
            assert last["event"].startswith(f"checkpoint.store: {checkpoint} is in use by another cdcsink (pid {proc.pid} on "), lines[-3:]
            assert "Traceback" not in "\n".join(lines)
            more = generate(300, tables=2, keys=20, resolved_every=30, seed=9, start_ts=first.last_resolved + 1)
            with path.open("ab") as f:
                f.write(b"".join(line + b"\n" for line in more.lines))
            wait_for(lambda: json.loads(checkpoint.read_text())["checkpoint_ts"] == more.last_resolved)
            records = await_read(broker.bootstrap, topic)
            # Every row exactly once: only one daemon tailed the file.
            check_delivery(workload_from_lines(first.lines + more.lines), Seen({tp: decode_canal(r) for tp, r in records.items()}))

            proc.send_signal(signal.SIGKILL)
            proc.wait()
            third = start_daemon(broker.bootstrap, path, checkpoint, 0, topic)
            last = generate(60, tables=2, keys=20, resolved_every=30, seed=10, start_ts=more.last_resolved + 1)
            with path.open("ab") as f:
                f.write(b"".join(line + b"\n" for line in last.lines))
            wait_for(lambda: json.loads(checkpoint.read_text())["checkpoint_ts"] == last.last_resolved, timeout=60)
            assert third.poll() is None
        finally:
            for p in (proc, second, third):
                if p is not None and p.poll() is None:
                    p.kill()
                if p is not None:
                    p.wait()


def test_an_http_port_in_use_is_one_line_naming_the_setting(tmp_path, unique):
    import socket

    path = generate(10, tables=1, resolved_every=5).write(tmp_path / "events.ndjson")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start_daemon(f"127.0.0.1:{free_port()}", path, tmp_path / "cp.json", port, f"port-{unique}")
        try:
            assert proc.wait(timeout=30) == 2
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = proc.stderr.read().decode()
    assert json.loads(stderr.strip().splitlines()[-1])["event"] == (  # json logs: the last line is a log line
        f"http.port: port {port} on 127.0.0.1 is already in use by another process "
        "(choose a free http.port, 0 for any, or http.enabled: false)"
    ), stderr[-3000:]
    assert "Traceback" not in stderr
