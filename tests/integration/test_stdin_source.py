"""The stdin source, through the real CLI, into the broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cdcsink.devtools.readback import read_back
from tests.conftest import broker_to_front
from tests.workload import Seen, check_delivery, decode_canal, generate
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]


async def test_events_piped_on_stdin_arrive_in_order(kafka_bootstrap, unique, tmp_path):
    w = generate(500, tables=2, keys=20, resolved_every=25)
    topic = f"stdin-{unique}"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "CDCSINK_SOURCE__TYPE": "stdin",
        "CDCSINK_SINK__URI": with_client(f"kafka://{kafka_bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=1"),
        "CDCSINK_CHECKPOINT__STORE": f"file://{tmp_path}/cp.json",
    }
    env.pop("CDCSINK_CONFIG", None)
    data = b"".join(line + b"\n" for line in w.lines)
    proc = subprocess.run([sys.executable, "-m", "cdcsink", "run"], input=data, capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads((tmp_path / "cp.json").read_text())["checkpoint_ts"] == w.last_resolved
    # Watermarks are interleaved (how many depends on timing): read until the partition is idle.
    records = await read_back(kafka_bootstrap, {(topic, 0): 10**9}, idle_timeout=1.5)
    seen = Seen({(topic, 0): decode_canal(records[(topic, 0)])})
    check_delivery(w, seen)


def stdin_env(bootstrap: str, topic: str, checkpoint: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        CDCSINK_SOURCE__TYPE="stdin",
        CDCSINK_SINK__URI=with_client(f"kafka://{bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=1"),
        CDCSINK_CHECKPOINT__STORE=f"file://{checkpoint}",
        CDCSINK_HTTP__ENABLED="false",
        CDCSINK_LOG__FORMAT="json",
        **more,
    )
    return env


def logged(stderr: bytes, event: str) -> list[dict]:
    return [e for e in (json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")) if e["event"] == event]


async def test_a_pipe_is_not_resumed_from_an_earlier_runs_checkpoint(kafka_bootstrap, unique, tmp_path):
    w = generate(300, tables=2, keys=20, resolved_every=25)
    topic = f"stdin-again-{unique}"
    env = stdin_env(kafka_bootstrap, topic, tmp_path / "cp.json")
    data = b"".join(line + b"\n" for line in w.lines)
    first = subprocess.run([sys.executable, "-m", "cdcsink", "run"], input=data, capture_output=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr.decode()[-3000:]
    again = subprocess.run([sys.executable, "-m", "cdcsink", "run"], input=data, capture_output=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    # One line says the stored checkpoint is not used; nothing claims to resume.
    assert not logged(again.stderr, "resuming from checkpoint")
    notes = [e for e in (json.loads(l) for l in again.stderr.decode().splitlines() if l.startswith("{")) if "pipe cannot be resumed" in e["event"]]
    assert len(notes) == 1 and notes[0]["stored_checkpoint_ts"] == w.last_resolved
    assert logged(again.stderr, "done")[0]["rows"] == w.rows  # the second pipe was sent whole
    records = await read_back(kafka_bootstrap, {(topic, 0): 10**9}, idle_timeout=1.5)
    rows = [r for r in decode_canal(records[(topic, 0)]) if r[0] == "row"]
    assert len(rows) == 2 * w.rows


class PipedDaemon:
    """The daemon reading a pipe the test writes to, its Kafka traffic through a fault proxy."""

    def __init__(self, tmp_path: Path, topic: str, **more_env: str) -> None:
        from tests.faultproxy import AckLedger
        from tests.workload import canal_identity

        self.tmp = tmp_path
        self.topic = topic
        self.checkpoint = tmp_path / "cp.json"
        self.log = tmp_path / "daemon.log"
        self.ledger = AckLedger(canal_identity)
        self.more_env = more_env

    async def __aenter__(self) -> "PipedDaemon":
        from tests.faultproxy import FaultProxy

        self._brokers = contextlib.ExitStack()
        self.proxy = await FaultProxy(self._brokers.enter_context(broker_to_front(self.tmp)), self.ledger).start()
        env = stdin_env(
            f"127.0.0.1:{self.proxy.port}", self.topic, self.checkpoint,
            CDCSINK_SINK__WRITE_TIMEOUT="1s", CDCSINK_SINK__READ_TIMEOUT="1s", CDCSINK_SINK__MAX_RETRY="1",
            CDCSINK_CHECKPOINT__INTERVAL="100ms", CDCSINK_RESTART__BACKOFF_MIN="100ms", CDCSINK_RESTART__BACKOFF_MAX="500ms",
            **self.more_env,
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], stdin=subprocess.PIPE, stdout=out, stderr=out, env=env)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        await self.proxy.stop()
        self._brokers.close()

    async def write(self, lines: list[bytes]) -> None:
        """Write to the pipe without blocking the event loop (the proxy runs on it)."""
        data = b"".join(line + b"\n" for line in lines)
        assert self.proc.stdin is not None

        def send() -> None:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass

        await asyncio.get_running_loop().run_in_executor(None, send)

    def stored_line(self) -> int:
        try:
            return (json.loads(self.checkpoint.read_text())["position"] or {}).get("line", 0)
        except (FileNotFoundError, json.JSONDecodeError):
            return 0

    async def until(self, predicate, timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            assert loop.time() < deadline, f"{what} not within {timeout}s:\n{self.log.read_text()[-3000:]}"
            await asyncio.sleep(0.02)

    def restarts(self) -> int:
        return self.log.read_text().count("restarting from the checkpoint")


async def test_a_broker_outage_longer_than_the_write_timeout_loses_no_piped_line(tmp_path, unique):
    """The run fails with lines read from the pipe and not acknowledged; the restarted
    run replays them from memory (standard input stays open) and reads on."""
    w = generate(60_000, tables=4, keys=200, resolved_every=500)
    half = len(w.lines) // 2
    async with PipedDaemon(tmp_path, f"stdin-outage-{unique}") as daemon:
        # The second half follows only once the broker is gone: the pipe is mid-stream when the run fails.
        head = asyncio.create_task(daemon.write(w.lines[:half]))
        await daemon.until(lambda: daemon.stored_line() > 5_000, 60, "a first checkpoint")
        daemon.proxy.blackhole()
        writing = asyncio.gather(head, daemon.write(w.lines[half:]))
        await daemon.until(lambda: daemon.restarts() > 0, 30, "a run failed by the black hole")
        daemon.proxy.heal()
        await writing
        daemon.proc.stdin.close()
        await daemon.until(lambda: daemon.proc.poll() is not None, 180, "the end of the input")
        log = daemon.log.read_text()
        assert daemon.proc.returncode == 0, log[-3000:]
        assert "I/O operation on closed file" not in log and "replaying the pipe from the checkpoint" in log
        assert daemon.stored_line() == len(w.lines)
        records = await read_back(f"127.0.0.1:{daemon.proxy.port}", {(daemon.topic, 0): 10**9}, idle_timeout=1.5)
        check_delivery(w, Seen({(daemon.topic, 0): decode_canal(records[(daemon.topic, 0)])}), allow_replays=True)


async def test_exiting_with_piped_lines_undelivered_says_how_many(tmp_path, unique):
    w = generate(20_000, tables=2, keys=100, resolved_every=500)
    async with PipedDaemon(tmp_path, f"stdin-lost-{unique}", CDCSINK_RESTART__MAX_ATTEMPTS="1") as daemon:
        await daemon.write(w.lines[:5_000])
        await daemon.until(lambda: daemon.stored_line() > 1_000, 60, "a first checkpoint")
        daemon.proxy.blackhole()
        writing = asyncio.create_task(daemon.write(w.lines[5_000:]))
        await daemon.until(lambda: daemon.proc.poll() is not None, 120, "giving up")
        await writing
        log = daemon.log.read_text()
        assert daemon.proc.returncode == 1, log[-3000:]
        record = json.loads(log.strip().splitlines()[-1])  # json logs: the last line is a log line too
        assert record["level"] == "critical" and record["exit_code"] == 1, record
        last = record["event"]
        stored = daemon.stored_line()
        assert last.startswith("giving up after 1 restarts without progress: "), last
        match = re.search(
            r"; stdin: (\d+) lines? read (?:was|were) not delivered \(lines? (\d+)(?:-(\d+))? of the pipe; "
            r"(?:the first (\d+) are delivered and checkpointed|the first (line) is delivered and checkpointed|no line of it is delivered)\)$",
            last,
        )
        assert match, last
        count, start = int(match[1]), int(match[2])
        end = int(match[3] or start)
        delivered = int(match[4]) if match[4] else 1 if match[5] else 0
        assert delivered == stored and start == stored + 1 and count == end - stored and stored < end <= len(w.lines)
        daemon.proxy.heal()


async def test_the_checkpoint_follows_a_pipe_without_resolved_events_and_a_signal_reports_what_is_left(
    kafka_bootstrap, unique, tmp_path
):
    """What stdin keeps is bounded by what is in flight, not by the distance between
    resolved events: the stored position moves after each acknowledged chunk. A stop
    before the pipe ends names what was read and not delivered."""
    w = generate(3_000, tables=2, keys=50, resolved_every=10**6)  # no resolved event at all
    checkpoint = tmp_path / "cp.json"
    env = stdin_env(kafka_bootstrap, f"stdin-open-{unique}", checkpoint, CDCSINK_CHECKPOINT__INTERVAL="100ms")
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], stdin=subprocess.PIPE, stdout=out, stderr=out, env=env)
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"".join(line + b"\n" for line in w.lines) + b'{"kind":"row"')  # and half a line
        proc.stdin.flush()

        def stored_line() -> int:
            try:
                return (json.loads(checkpoint.read_text())["position"] or {}).get("line", 0)
            except (FileNotFoundError, json.JSONDecodeError):
                return 0

        for _ in range(600):
            if stored_line() == len(w.lines):
                break
            await asyncio.sleep(0.05)
        assert stored_line() == len(w.lines), log.read_text()[-3000:]
        assert json.loads(checkpoint.read_text())["checkpoint_ts"] == 0  # no resolved event promised anything
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    last = json.loads(log.read_text().strip().splitlines()[-1])["event"]  # json logs: the last line is a log line
    assert last == (
        "stopped before the input was delivered: stdin: 1 line read was not delivered "
        f"(line {len(w.lines) + 1} of the pipe; the first {len(w.lines)} are delivered and checkpointed)"
    ), last
