"""Fault injection: 100k+ events through a TCP fault proxy, with dropped
connections, a black-holed broker, slow acknowledgements, kill -9 and SIGTERM.

After each run every input row is in Kafka (replays allowed), per-key order
holds, every DDL follows its table's earlier rows, and every checkpoint the
daemon wrote — each one, read within milliseconds of the write — covered only
input whose messages the proxy had already handed back acknowledged.

The broker advertises its own address; the proxy rewrites it, so it carries
every connection (and runs as it is against CDCSINK_TEST_BOOTSTRAP's Kafka).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cdcsink.devtools.readback import read_back
from tests.conftest import broker_to_front
from tests.faultproxy import AckLedger, FaultProxy
from tests.workload import Seen, Workload, check_delivery, decode_canal, event_identity, generate
from tests.workload import canal_identity as identify
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]
ROOT = Path(__file__).resolve().parents[2]
ROWS = 100_000
TABLES = 6
PARTITIONS = 3
REQUEST_TIMEOUT = 2.0


class Input:
    """The input file's lines as identities, with byte offsets, for checking a position."""

    def __init__(self, w: Workload) -> None:
        self.ends: list[int] = []
        self.idents: list[tuple | None] = []
        #: Highest resolved ts among lines[:i + 1].
        self.resolved: list[int] = []
        offset, resolved = 0, 0
        for line in w.lines:
            offset += len(line) + 1
            self.ends.append(offset)
            event = orjson.loads(line)
            self.idents.append(event_identity(event))
            if event["kind"] == "resolved":
                resolved = event["commit_ts"]
            self.resolved.append(resolved)

    def lines_before(self, offset: int) -> int:
        return bisect.bisect_right(self.ends, offset)


class CheckpointWatcher:
    """Reads the checkpoint file every few milliseconds; each new value must cover
    only acknowledged input and never go back."""

    def __init__(self, path: Path, source: Input, ledger: AckLedger) -> None:
        self.path = path
        self.source = source
        self.ledger = ledger
        self.failures: list[str] = []
        self.writes = 0
        self.offset = 0
        self.ts = 0
        self.checked = 0
        self._stamp: tuple | None = None

    def check(self, checkpoint: dict) -> None:
        # No position yet: nothing of the input is covered.
        offset, ts = (checkpoint["position"] or {"offset": 0})["offset"], checkpoint["checkpoint_ts"]
        self.writes += 1
        if offset < self.offset or ts < self.ts:
            self.failures.append(f"checkpoint went back: offset {self.offset}->{offset}, ts {self.ts}->{ts}")
        lines = self.source.lines_before(offset)
        for i in range(self.checked, lines):
            ident = self.source.idents[i]
            if ident is not None and ident not in self.ledger.acked:
                self.failures.append(f"checkpoint at offset {offset} (ts {ts}) covers line {i + 1} {ident}, not acknowledged")
                break
        if lines and ts > self.source.resolved[lines - 1]:
            self.failures.append(f"checkpoint ts {ts} is past the last resolved ts before offset {offset}")
        self.checked = max(self.checked, lines)
        self.offset, self.ts = max(self.offset, offset), max(self.ts, ts)

    def poll(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            self.check(json.loads(self.path.read_bytes()))

    async def run(self) -> None:
        while True:
            try:
                self.poll()
            except Exception as error:  # a watcher that dies silently would check nothing
                self.failures.append(f"watcher: {type(error).__name__}: {error}")
                raise
            await asyncio.sleep(0.002)

    def fraction(self, total: int) -> float:
        return self.offset / total


class Scenario:
    def __init__(self, tmp_path: Path, w: Workload, source: Input, topic: str) -> None:
        self.tmp = tmp_path
        self.w = w
        self.topic = topic
        self.path = w.write(tmp_path / "events.ndjson")
        self.size = self.path.stat().st_size
        self.checkpoint = tmp_path / "cp.json"
        self.ledger = AckLedger(identify)
        self.watcher = CheckpointWatcher(self.checkpoint, source, self.ledger)
        self._broker = contextlib.ExitStack()
        self.daemon: subprocess.Popen | None = None
        self.starts = 0

    async def __aenter__(self) -> "Scenario":
        self.proxy = await FaultProxy(self._broker.enter_context(broker_to_front(self.tmp)), self.ledger).start()
        self._watch = asyncio.create_task(self.watcher.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._watch.cancel()
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        await self.proxy.stop()
        self._broker.close()

    @property
    def log(self) -> Path:
        return self.tmp / "daemon.log"

    def start_daemon(self, **extra_env: str) -> None:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
        topic = self.topic
        env.update(
            PYTHONPATH=str(ROOT),
            CDCSINK_CHANGEFEED=topic,
            CDCSINK_SOURCE__PATH=str(self.path),
            CDCSINK_SINK__URI=with_client(
                f"kafka://127.0.0.1:{self.proxy.port}/{topic}?protocol=canal-json&enable-tidb-extension=true"
                f"&partition-num={PARTITIONS}&write-timeout={REQUEST_TIMEOUT}s&read-timeout={REQUEST_TIMEOUT}s&max-retry=2"
            ),
            CDCSINK_SINK__DISPATCHERS=json.dumps([{"matcher": ["*.*"], "topic": topic + "_{table}", "partition": "index-value"}]),
            CDCSINK_CHECKPOINT__STORE=f"file://{self.checkpoint}",
            CDCSINK_CHECKPOINT__INTERVAL="200ms",
            CDCSINK_RESTART__BACKOFF_MIN="100ms",
            CDCSINK_RESTART__BACKOFF_MAX="1s",
            CDCSINK_RESTART__MAX_ATTEMPTS="40",
            CDCSINK_HTTP__ENABLED="false",
            CDCSINK_LOG__FORMAT="json",
        )
        env.update(extra_env)
        with self.log.open("ab") as out:
            self.daemon = subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], env=env, stdout=out, stderr=out)

    async def progress(self, fraction: float, timeout: float = 120.0) -> None:
        """Wait until the stored checkpoint passes ``fraction`` of the input."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.watcher.fraction(self.size) < fraction:
            assert not self._watch.done(), self.watcher.failures
            assert self.daemon is not None and self.daemon.poll() is None, f"daemon exited early:\n{self.log.read_text()[-3000:]}"
            assert loop.time() < deadline, f"no progress to {fraction:.0%} within {timeout}s"
            await asyncio.sleep(0.005)

    async def exit_code(self, timeout: float = 180.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        assert self.daemon is not None
        while self.daemon.poll() is None:
            assert loop.time() < deadline, "daemon did not finish in time"
            await asyncio.sleep(0.02)
        return self.daemon.returncode

    def restarts(self) -> int:
        return self.log.read_text().count("restarting from the checkpoint")

    async def until_restarted(self, timeout: float) -> bool:
        """Wait until the daemon has failed a run and is restarting; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.restarts() == 0:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def finish_and_check(self, allow_replays: bool = True) -> None:
        code = await self.exit_code()
        log = self.log.read_text()
        assert code == 0, log[-3000:]
        # A failed run ends cleanly: no asyncio complaint about a failure nobody handled.
        assert "never retrieved" not in log, log[max(0, log.find("never retrieved") - 500) :][:1500]
        self.watcher.poll()
        assert not self.watcher.failures, self.watcher.failures[:5]
        assert self.watcher.writes >= 3, "too few checkpoint writes to have checked anything"
        final = json.loads(self.checkpoint.read_text())
        assert final["checkpoint_ts"] == self.w.last_resolved and final["position"]["offset"] == self.size
        expected = {(f"{self.topic}_t{t}", p): 10**9 for t in range(TABLES) for p in range(PARTITIONS)}
        records = await read_back(f"127.0.0.1:{self.proxy.port}", expected, idle_timeout=1.0)
        seen = Seen({tp: decode_canal(recs) for tp, recs in records.items() if recs})
        check_delivery(self.w, seen, allow_replays=allow_replays)


@pytest.fixture(scope="module")
def workload() -> tuple[Workload, Input]:
    w = generate(ROWS, tables=TABLES, keys=400, resolved_every=400, ddl_every=12_000)
    return w, Input(w)


async def test_connections_dropped_and_acks_slowed_mid_stream(workload, tmp_path, unique):
    w, source = workload
    async with Scenario(tmp_path, w, source, f"drop-{unique}") as s:
        # Acknowledgements arrive late for the first part: a checkpoint written on
        # send instead of on ack would be caught by the watcher.
        s.proxy.slow(0.03)
        s.start_daemon()
        await s.progress(0.15)
        s.proxy.slow(0.0)
        dropped = []
        for at in (0.3, 0.5, 0.7):
            await s.progress(at)
            dropped.append(s.proxy.drop())
        assert all(dropped), f"a drop found no connection to cut: {dropped}"
        await s.finish_and_check()


async def test_broker_black_holed_longer_than_the_request_timeout(workload, tmp_path, unique):
    w, source = workload
    async with Scenario(tmp_path, w, source, f"hole-{unique}") as s:
        s.start_daemon()
        await s.progress(0.3)
        s.proxy.blackhole()
        # Held until the run fails: requests time out after REQUEST_TIMEOUT and
        # the client's retries add more, so a fixed hold could heal too early.
        held = await s.until_restarted(timeout=REQUEST_TIMEOUT * 15)
        s.proxy.heal()
        assert held, "the black hole did not fail a run: the fault was not exercised"
        await s.finish_and_check()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_daemon_stopped_mid_stream_and_started_again(workload, tmp_path, unique, how):
    w, source = workload
    async with Scenario(tmp_path, w, source, f"stop-{unique}") as s:
        s.start_daemon()
        await s.progress(0.4)
        assert s.daemon is not None
        s.daemon.send_signal(how)
        code = await s.exit_code(timeout=60)
        assert code == (-signal.SIGKILL if how == signal.SIGKILL else 0), s.log.read_text()[-3000:]
        assert s.watcher.fraction(s.size) < 1.0, "the run ended before it could be stopped"
        s.start_daemon()
        # A drained SIGTERM moves the position past everything it sent: nothing is sent twice.
        await s.finish_and_check(allow_replays=how == signal.SIGKILL)


async def test_shutdown_timeout_and_a_second_signal_bound_the_drain(workload, tmp_path, unique):
    """SIGTERM with the broker black-holed: past shutdown-timeout the daemon exits 1
    with the checkpoint at the last acknowledged point; a second signal exits 130 at once."""
    w, source = workload
    async with Scenario(tmp_path, w, source, f"drain-{unique}") as s:
        s.start_daemon(CDCSINK_SHUTDOWN_TIMEOUT="500ms")
        await s.progress(0.2)
        s.proxy.blackhole()
        assert s.daemon is not None
        s.daemon.send_signal(signal.SIGTERM)
        assert await s.exit_code(timeout=30) == 1
        assert "not drained within shutdown-timeout (0.5s)" in s.log.read_text()
        s.watcher.poll()
        assert not s.watcher.failures, s.watcher.failures[:5]
        assert s.watcher.fraction(s.size) < 1.0

        resumed = s.log.read_text().count("resuming from checkpoint")
        s.start_daemon()  # resumes from the checkpoint, still black-holed
        for _ in range(600):  # signal handlers are in place once it logs the resume
            if s.log.read_text().count("resuming from checkpoint") > resumed:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the second daemon never resumed from the checkpoint")
        s.daemon.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        s.daemon.send_signal(signal.SIGTERM)
        assert await s.exit_code(timeout=10) == 130
        assert "second signal, exiting at once" in s.log.read_text()
        s.proxy.heal()


def test_the_watcher_catches_a_checkpoint_ahead_of_the_acks(workload, tmp_path):
    """The check above can fail: a checkpoint covering an unacknowledged row is reported."""
    w, source = workload
    ledger = AckLedger(identify)
    watcher = CheckpointWatcher(tmp_path / "cp.json", source, ledger)
    first_rows = [i for i in source.idents[:50] if i is not None]
    ledger.acked.update(first_rows[:-1])  # the last of them never acknowledged
    watcher.check({"checkpoint_ts": 0, "position": {"offset": source.ends[49]}})
    assert watcher.failures and "not acknowledged" in watcher.failures[0]
    watcher.failures.clear()
    watcher.check({"checkpoint_ts": 0, "position": {"offset": source.ends[10]}})
    assert watcher.failures and "went back" in watcher.failures[0]


async def test_a_batch_queued_behind_a_failed_one_is_never_written(tmp_path, unique):
    """The failed batch's time runs out in a black hole; the connection comes back at
    that very moment. The batch queued behind it must not be written (it would land
    without its predecessor): it fails too, and nothing is accepted afterwards."""
    from tests.kafka_input import create_topic

    import tests.kafka_client
    from cdcsink.kafka import new_factory
    from cdcsink.kafka.options import KafkaOptions

    ledger = AckLedger(lambda value: (value.decode(),))
    topic = f"fence-{unique}"
    broker = contextlib.ExitStack()
    proxy = await FaultProxy(broker.enter_context(broker_to_front(tmp_path)), ledger).start()
    bootstrap = f"127.0.0.1:{proxy.port}"
    producer = None
    try:
        await create_topic(bootstrap, topic)
        factory = new_factory(
            KafkaOptions(brokers=[bootstrap], client=tests.kafka_client.current, read_timeout=1.0, write_timeout=1.0)
        )
        producer = await factory.async_producer()
        acks: dict[str, BaseException | None] = {}

        async def send(name: str, on_ack=None) -> None:
            batch = producer.new_batch()
            batch.extend([(None, name.encode())], 0)

            def record(error):
                acks[name] = error
                if on_ack is not None:
                    on_ack(error)

            await producer.send_batch(batch, topic, 0, record)

        await send("first")
        while "first" not in acks:
            await asyncio.sleep(0.01)
        assert acks["first"] is None
        proxy.blackhole()
        await send("lost", on_ack=lambda error: proxy.heal())  # the network returns as it fails
        await send("behind")
        for _ in range(1000):
            if "lost" in acks and "behind" in acks:
                break
            await asyncio.sleep(0.01)
        assert acks["lost"] is not None and acks["behind"] is not None
        await send("after")
        assert acks["after"] is not None  # refused without being sent
        await asyncio.sleep(1.5)
        records = await read_back(bootstrap, {(topic, 0): 10}, idle_timeout=1.0)
        assert [r.value for r in records[(topic, 0)]] == [b"first"]
    finally:
        if producer is not None:
            await producer.close()
        await proxy.stop()
        broker.close()
