"""The kafka source against the dev broker: a 6-partition input topic (several
tables, DDL copies and resolved events on every partition) read by daemons in
one consumer group.

A fault proxy between the daemons and the broker records which output
messages the broker acknowledged; a watcher reads the group's committed
offsets every few milliseconds during the run and fails if one ever covers an
input event whose output was not acknowledged yet, or goes back. The broker advertises its
own address (the proxy rewrites it), and each group reads an input topic of
its own, so the tests run as they are against CDCSINK_TEST_BOOTSTRAP's Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cdcsink.devtools.broker import free_port
from cdcsink.devtools.readback import read_back
from tests.conftest import broker_to_front
from tests.integration.test_daemon import metric, scrape
from tests.faultproxy import AckLedger, FaultProxy
from tests.kafka_input import PartitionedInput, append_resolved, create_topic, produce, spread
from tests.workload import Seen, Workload, canal_identity, check_delivery, decode_canal, generate
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker]
ROOT = Path(__file__).resolve().parents[2]
#: Input topic of the shared workloads; each Group renames it to one of its own.
INPUT = "cdc-input"
INPUT_PARTITIONS = 6
TABLES = 6
OUT_PARTITIONS = 3


def output_identity(value: bytes) -> tuple | None:
    """The ledger's identity of an output message; input events pass through untracked."""
    if not value.startswith(b'{"id"'):
        return None
    return canal_identity(value)


class CommitWatcher:
    """Polls the group's committed offsets; each must cover only acknowledged output
    and never go back (the partition's next reader would send its events again)."""

    def __init__(self, bootstrap: str, group: str, data: PartitionedInput, ledger: AckLedger) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.data = data
        self.ledger = ledger
        self.committed: dict[int, int] = {}
        self.checked = [0] * data.partitions
        self.polls = 0
        self.failures: list[str] = []

    def check(self, committed: dict[int, int]) -> None:
        for p, offset in committed.items():
            if offset < self.committed.get(p, 0):
                # Every owner settles and commits before a partition moves on: a commit
                # going back would have the next owner replay what was delivered already.
                self.failures.append(f"{self.data.topic}[{p}] committed offset went back from {self.committed[p]} to {offset}")
            idents = self.data.idents[p]
            for i in range(self.checked[p], min(offset, len(idents))):
                ident = idents[i]
                if ident is not None and ident not in self.ledger.acked:
                    self.failures.append(f"{self.data.topic}[{p}] committed at {offset}, but offset {i} {ident} is not acknowledged")
                    break
            self.checked[p] = max(self.checked[p], offset)
        self.committed = committed

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False)
        await consumer.start()
        try:
            while True:
                committed = {}
                for p in range(self.data.partitions):
                    offset = await consumer.committed(TopicPartition(self.data.topic, p))
                    if offset is not None and offset >= 0:
                        committed[p] = offset
                self.check(committed)
                self.polls += 1
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a watcher that dies silently would check nothing
            self.failures.append(f"watcher: {type(error).__name__}: {error}")
            raise
        finally:
            await consumer.stop()

    def fraction(self) -> float:
        total = sum(len(v) for v in self.data.values)
        return sum(self.committed.values()) / total


class Group:
    """The broker behind a fault proxy, the input topic, and daemons in one group."""

    def __init__(self, tmp_path: Path, w: Workload, data: PartitionedInput, name: str, *, sink_apart: bool = False) -> None:
        self.tmp = tmp_path
        self.w = w
        self.data = data
        self.name = name
        #: The group's own input topic (the broker may be shared with other tests).
        self.input = data.topic = f"{name}-input"
        self.group = f"{name}-group"
        self.ledger = AckLedger(output_identity)
        #: With ``sink_apart``, the output goes through a proxy of its own (to a second
        #: dev broker, or the same external one), so its acknowledgements can be
        #: delayed while the group's coordination runs at full speed.
        self.sink_apart = sink_apart
        self._brokers = contextlib.ExitStack()
        self.daemons: dict[str, subprocess.Popen] = {}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"

    @property
    def sink_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sink_proxy.port}"

    async def __aenter__(self) -> "Group":
        self.proxy = await FaultProxy(self._brokers.enter_context(broker_to_front(self.tmp)), self.ledger).start()
        self.sink_proxy = self.proxy
        if self.sink_apart:
            sink_broker = self._brokers.enter_context(broker_to_front(self.tmp, "sink-broker"))
            self.sink_proxy = await FaultProxy(sink_broker, self.ledger).start()
        await produce(self.bootstrap, self.data)
        self.watcher = CommitWatcher(self.bootstrap, self.group, self.data, self.ledger)
        self._watch = asyncio.create_task(self.watcher.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._watch.cancel()
        await asyncio.gather(self._watch, return_exceptions=True)
        for daemon in self.daemons.values():
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
        await self.proxy.stop()
        if self.sink_proxy is not self.proxy:
            await self.sink_proxy.stop()
        self._brokers.close()

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def start(self, name: str, **extra_env: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
        env.update(
            PYTHONPATH=str(ROOT),
            CDCSINK_CHANGEFEED=self.name,
            CDCSINK_SOURCE__TYPE="kafka",
            CDCSINK_SOURCE__BOOTSTRAP=self.bootstrap,
            CDCSINK_SOURCE__TOPICS=self.input,
            CDCSINK_SOURCE__GROUP=self.group,
            CDCSINK_SOURCE__SESSION_TIMEOUT="3s",
            CDCSINK_SINK__URI=with_client(
                f"kafka://{self.sink_bootstrap}/{self.name}?protocol=canal-json&enable-tidb-extension=true"
                f"&partition-num={OUT_PARTITIONS}"
            ),
            CDCSINK_SINK__DISPATCHERS=json.dumps(
                [{"matcher": ["*.*"], "topic": self.name + "_{table}", "partition": "index-value"}]
            ),
            CDCSINK_CHECKPOINT__INTERVAL="100ms",
            CDCSINK_HTTP__ENABLED="false",
            CDCSINK_LOG__FORMAT="json",
        )
        env.update(extra_env)
        with (self.tmp / f"{name}.log").open("ab") as out:
            daemon = subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], env=env, stdout=out, stderr=out)
        self.daemons[name] = daemon
        return daemon

    async def progress(self, fraction: float, timeout: float = 120.0) -> None:
        """Wait until the committed offsets cover ``fraction`` of the input."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.watcher.fraction() < fraction:
            assert not self._watch.done(), self.watcher.failures
            assert not self.watcher.failures, self.watcher.failures[:3]
            for name, daemon in self.daemons.items():
                if daemon.poll() is not None and daemon.returncode not in (0, -signal.SIGKILL):
                    pytest.fail(f"daemon {name} exited {daemon.returncode}:\n{self.log(name)[-3000:]}")
            assert loop.time() < deadline, f"committed offsets did not reach {fraction:.0%} in {timeout}s: {self.watcher.committed}"
            await asyncio.sleep(0.01)

    async def assigned(self, name: str, count: int | None, timeout: float = 60.0, times: int = 1) -> None:
        """Wait until daemon ``name`` has logged ``times`` assignments of ``count``
        input partitions (None: of any number)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            seen = sum(
                1 for line in self.log(name).splitlines()
                if '"input partitions assigned"' in line
                and count in (None, json.loads(line)["partitions"].count("["))
            )
            if seen >= times:
                return
            assert loop.time() < deadline, f"{name} was never assigned {count} partitions:\n{self.log(name)[-3000:]}"
            await asyncio.sleep(0.05)

    async def stop(self, name: str) -> None:
        daemon = self.daemons[name]
        daemon.send_signal(signal.SIGTERM)
        for _ in range(600):
            if daemon.poll() is not None:
                break
            await asyncio.sleep(0.05)
        log = self.log(name)
        assert daemon.returncode == 0, log[-3000:]
        assert "never retrieved" not in log, log[max(0, log.find("never retrieved") - 500) :][:1500]

    async def output(self) -> Seen:
        expected = {(f"{self.name}_t{t}", p): 10**9 for t in range(TABLES) for p in range(OUT_PARTITIONS)}
        records = await read_back(self.sink_bootstrap, expected, idle_timeout=1.0)
        return Seen({tp: decode_canal(recs) for tp, recs in records.items() if recs})


def replay_runs(w: Workload, seen: Seen) -> tuple[int, str]:
    """The most times any key's rows went back to an earlier row (each replay run does
    once), and that key with the commit_ts sequence it was delivered in."""
    got: dict[tuple, list[int]] = defaultdict(list)
    for _, schema, table, pk, ts in seen.rows():
        got[(schema, table, pk)].append(ts)
    worst, which = 0, ""
    for key, actual in got.items():
        position = {ts: i for i, ts in enumerate(w.per_key[key])}
        back = sum(1 for a, b in zip(actual, actual[1:]) if position[b] <= position[a])
        if back > worst:
            worst, which = back, f"{key}: {actual}"
    return worst, which


@pytest.fixture(scope="module")
def big_input() -> tuple[Workload, PartitionedInput]:
    w = generate(100_000, tables=TABLES, keys=400, resolved_every=400, ddl_every=12_000)
    return w, spread(w, INPUT, INPUT_PARTITIONS)


async def test_two_instances_one_killed_and_another_started(big_input, tmp_path, unique):
    w, shared = big_input
    data = PartitionedInput(shared.topic, shared.partitions, [list(v) for v in shared.values], [list(i) for i in shared.idents])
    assert sum(len(v) for v in data.values) > 100_000
    async with Group(tmp_path, w, data, f"scale-{unique}") as g:
        g.start("a")
        g.start("b")
        # Killed only once it holds its share: a late join would leave it nothing to hand over.
        await g.assigned("a", INPUT_PARTITIONS // 2)
        await g.assigned("b", INPUT_PARTITIONS // 2)
        await g.progress(0.35)
        g.daemons["a"].kill()
        g.daemons["a"].wait()
        assert g.watcher.fraction() < 0.9, "the input was consumed before a daemon could be killed"
        await g.assigned("b", INPUT_PARTITIONS)  # the survivor takes the dead one's partitions
        g.start("c")
        await g.assigned("c", None)
        # A live upstream goes on sending resolved events on every partition.
        await append_resolved(g.bootstrap, data, w.last_resolved + 1)
        await g.progress(1.0, timeout=180)
        await g.stop("b")
        await g.stop("c")
        assert not g.watcher.failures, g.watcher.failures[:5]
        assert g.watcher.committed == data.ends
        assert g.watcher.polls >= 20, "the committed offsets were hardly watched"
        assert '"input partitions assigned"' in g.log("a") and '"input partitions revoked; settling them"' in g.log("b")
        rebalance_story = "\n".join(
            f"{name}: {line}" for name in ("a", "b", "c") for line in g.log(name).splitlines()
            if any(word in line for word in ("assigned", "revoked", "commit skipped", "revoke-timeout", "failed"))
        )
        seen = await g.output()
    check_delivery(w, seen, allow_replays=True)
    worst, which = replay_runs(w, seen)
    assert worst <= 1, f"a key was replayed more than once for one crash: {which}\n{rebalance_story}"


@pytest.mark.each_client
async def test_sigterm_commits_exactly_what_was_acked_and_a_restart_duplicates_nothing(tmp_path, unique):
    w = generate(30_000, tables=TABLES, keys=300, resolved_every=300, ddl_every=4_000, seed=11)
    data = spread(w, INPUT, INPUT_PARTITIONS)
    async with Group(tmp_path, w, data, f"term-{unique}") as g:
        g.proxy.slow(0.05)  # acknowledgements late: rows are in flight when the signal comes
        g.start("a")
        await g.progress(0.2)
        await g.stop("a")
        g.proxy.slow(0.0)
        await asyncio.sleep(0.3)  # one more poll after the final commit
        committed = dict(g.watcher.committed)
        assert sum(committed.values()) < sum(data.ends.values()), "the input was consumed before the signal"
        first = await g.output()
        covered = {ident for p in range(INPUT_PARTITIONS) for ident in data.idents[p][: committed.get(p, 0)]
                   if ident is not None and ident[0] == "row"}
        delivered = [("row", *r[1:]) for r in first.rows()]
        assert len(delivered) == len(set(delivered))
        assert set(delivered) == covered, (
            f"{len(set(delivered) - covered)} rows delivered past the committed offsets, "
            f"{len(covered - set(delivered))} committed but not delivered"
        )
        port = free_port()
        g.start("b", CDCSINK_HTTP__ENABLED="true", CDCSINK_HTTP__PORT=str(port))
        await g.progress(1.0)
        await asyncio.sleep(0.3)  # a fetch after the last commit updates the log end seen
        values = scrape(port)
        for p, end in data.ends.items():
            assert metric(values, "cdcsink_source_committed_offset", topic=g.input, partition=str(p)) == end
            # The dev broker's log end can be short inside the last batch: lag is never negative, and small here.
            assert 0 <= metric(values, "cdcsink_source_lag", topic=g.input, partition=str(p)) < 1000
        assert metric(values, "cdcsink_source_rebalances_total") == 0
        assert metric(values, "cdcsink_source_ddl_copies_dropped_total") > 0
        await g.stop("b")
        assert not g.watcher.failures, g.watcher.failures[:5]
        seen = await g.output()
    check_delivery(w, seen)  # no replays allowed: every row and DDL exactly once


async def test_a_revoke_outlasting_revoke_timeout_commits_only_what_was_acked(tmp_path, unique):
    w = generate(20_000, tables=TABLES, keys=200, resolved_every=200, ddl_every=5_000, seed=5)
    data = spread(w, INPUT, INPUT_PARTITIONS)
    async with Group(tmp_path, w, data, f"revoke-{unique}", sink_apart=True) as g:
        # Acknowledgements come later than the revoke timeout from the start: slowed only
        # after some progress, a fast daemon could have every row acknowledged already.
        g.sink_proxy.slow_responses(0.6)
        g.start("a", CDCSINK_SOURCE__REVOKE_TIMEOUT="300ms")
        await g.progress(0.05)
        await asyncio.sleep(0.3)
        # Another member joins: every partition of "a" is revoked while its rows are in flight.
        intruder = AIOKafkaConsumer(g.input, bootstrap_servers=g.bootstrap, group_id=g.group, enable_auto_commit=False)
        await intruder.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while "revoke-timeout passed" not in g.log("a"):
                assert loop.time() < deadline, f"no revoke timed out:\n{g.log('a')[-3000:]}"
                assert not g.watcher.failures, g.watcher.failures[:3]
                await intruder.getmany(timeout_ms=50)
        finally:
            await intruder.stop()  # leaves: "a" takes every partition again, from the commits
        g.sink_proxy.slow_responses(0.0)
        await g.assigned("a", INPUT_PARTITIONS, times=2)
        # A live upstream goes on sending resolved events on every partition.
        await append_resolved(g.bootstrap, data, w.last_resolved + 1)
        await g.progress(1.0, timeout=180)
        await g.stop("a")
        assert not g.watcher.failures, g.watcher.failures[:5]
        assert g.watcher.committed == data.ends
        seen = await g.output()
    check_delivery(w, seen, allow_replays=True)


async def test_partitions_assigned_past_a_ddl_do_not_hold_it_when_another_replays_it(tmp_path, unique):
    """Committed offsets as a crash can leave them: partition 0 before its copy of
    the last DDL, the others at their end. The daemon that takes them over gets no
    new input on the others, yet partition 0's DDL and rows go out: each partition's
    resolved ts is read back from before its committed offset."""
    w = generate(3_000, tables=2, keys=50, resolved_every=100, ddl_every=1_000, seed=9)
    data = spread(w, INPUT, INPUT_PARTITIONS)
    ddl_at = max(i for i, ident in enumerate(data.idents[0]) if ident is not None and ident[0] == "ddl")
    ddl = data.idents[0][ddl_at]
    start = max(0, ddl_at - 20)
    commits = {0: start, **{p: len(data.values[p]) for p in range(1, INPUT_PARTITIONS)}}
    async with Group(tmp_path, w, data, f"readback-{unique}") as g:
        setter = AIOKafkaConsumer(bootstrap_servers=g.bootstrap, group_id=g.group, enable_auto_commit=False)
        await setter.start()
        try:
            setter.assign([TopicPartition(g.input, p) for p in commits])
            await setter.commit({TopicPartition(g.input, p): offset for p, offset in commits.items()})
        finally:
            await setter.stop()
        for p, offset in commits.items():  # delivered before this test's daemon: not checked
            g.watcher.checked[p] = offset
        g.start("a")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while g.watcher.committed.get(0) != data.ends[0]:
            assert loop.time() < deadline, f"partition 0 stuck at {g.watcher.committed.get(0)}:\n{g.log('a')[-3000:]}"
            assert not g.watcher.failures, g.watcher.failures[:3]
            await asyncio.sleep(0.05)
        await g.stop("a")
        assert not g.watcher.failures, g.watcher.failures[:5]
        seen = await g.output()
    out = [r for records in seen.partitions.values() for r in records]
    replayed = [i for i in data.idents[0][start:] if i is not None and i[0] == "row"]
    assert set(replayed) <= {r for r in out if r[0] == "row"}
    assert [r for r in out if r[0] == "ddl"] == [("ddl", ddl[1], ddl[2], None, ddl[3])]


async def test_an_invalid_message_stops_the_run_naming_its_partition_and_offset(tmp_path, unique):
    w = generate(600, tables=2, keys=20, resolved_every=50, seed=3)
    data = spread(w, INPUT, INPUT_PARTITIONS)
    data.values[2].insert(10, b'{"kind": "row", "schema": ')
    data.idents[2].insert(10, ("invalid",))
    async with Group(tmp_path, w, data, f"bad-{unique}") as g:
        daemon = g.start("a")
        for _ in range(600):
            if daemon.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert daemon.returncode == 3, g.log("a")[-3000:]
        assert f"{g.input}[2]@10: not valid JSON" in g.log("a")
        await asyncio.sleep(0.2)
        assert g.watcher.committed.get(2, 0) <= 10
        assert not g.watcher.failures, g.watcher.failures[:5]


async def test_watermarks_pause_while_instances_share_the_input_and_resume_after(tmp_path, unique):
    w = generate(6_000, tables=TABLES, keys=100, resolved_every=200, ddl_every=2_500, seed=12)
    data = spread(w, INPUT, INPUT_PARTITIONS)
    async with Group(tmp_path, w, data, f"wm-{unique}") as g:

        async def watermarks() -> int:
            seen = await g.output()
            return sum(1 for records in seen.partitions.values() for r in records if r[0] == "watermark")

        port = free_port()
        g.start("a", CDCSINK_HTTP__ENABLED="true", CDCSINK_HTTP__PORT=str(port))
        await g.progress(1.0)
        assert await watermarks() > 0  # alone: every partition's resolved ts is known
        g.start("b")
        await g.assigned("a", INPUT_PARTITIONS // 2)
        await g.assigned("b", INPUT_PARTITIONS // 2)
        await asyncio.sleep(0.5)  # past any watermark under way when the input became shared
        shared = await watermarks()
        # The upstream moves every partition's resolved ts on: committed, but no watermark.
        await append_resolved(g.bootstrap, data, w.last_resolved + 1)
        await g.progress(1.0)
        await asyncio.sleep(0.5)  # several checkpoint intervals
        assert await watermarks() == shared, "a watermark was sent while the input was shared"
        assert '"watermarks withheld while other instances share the input partitions"' in g.log("a")
        await g.stop("b")
        await g.assigned("a", INPUT_PARTITIONS, times=2)
        await append_resolved(g.bootstrap, data, w.last_resolved + 2)
        await g.progress(1.0)
        for _ in range(100):
            if await watermarks() > shared:
                break
            await asyncio.sleep(0.1)
        assert await watermarks() > shared, "watermarks did not resume once one instance held every partition"
        assert metric(scrape(port), "cdcsink_source_rebalances_total") >= 1  # b's arrival took partitions from a
        await g.stop("a")
        assert not g.watcher.failures, g.watcher.failures[:5]
        seen = await g.output()
    check_delivery(w, seen, allow_replays=True)


async def test_input_topics_chosen_by_topic_pattern(tmp_path, unique):
    w = generate(2_000, tables=2, keys=50, resolved_every=100, ddl_every=700, seed=8)
    data = spread(w, INPUT, INPUT_PARTITIONS)
    async with Group(tmp_path, w, data, f"pattern-{unique}") as g:
        pattern = f"{g.name}-in.*"
        g.start("a", CDCSINK_SOURCE__TOPICS="", CDCSINK_SOURCE__TOPIC_PATTERN=pattern)
        await g.assigned("a", INPUT_PARTITIONS)
        await g.progress(1.0)
        await g.stop("a")
        assert f'"topic_pattern": "{pattern}"' in g.log("a")
        assert not g.watcher.failures, g.watcher.failures[:5]
        seen = await g.output()
    check_delivery(w, seen)


async def test_check_says_the_consumer_group_is_the_checkpoint_store(kafka_bootstrap, unique, tmp_path):
    await create_topic(kafka_bootstrap, f"in-{unique}")
    config = tmp_path / "cdcsink.yaml"
    config.write_text(
        f"""
source:
  type: kafka
  bootstrap: {kafka_bootstrap}
  topics: [in-{unique}]
  group: g-{unique}
sink:
  uri: kafka://{kafka_bootstrap}/check-{unique}?protocol=canal-json
checkpoint:
  store: file://{tmp_path}/cp.json
"""
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    check = subprocess.run([sys.executable, "-m", "cdcsink", "check", "--config", str(config)], capture_output=True, text=True, env=env, timeout=60)
    assert check.returncode == 0, check.stderr
    assert f"checkpoint store: kafka consumer group g-{unique}" in check.stdout
    assert f"checkpoint.store file://{tmp_path}/cp.json is not needed with a kafka source" in check.stdout
    assert not (tmp_path / "cp.json").exists()


@pytest.mark.each_client
async def test_an_invalid_message_is_set_aside_with_dead_letter_and_the_run_goes_on(tmp_path, unique):
    w = generate(600, tables=2, keys=20, resolved_every=50, seed=3)
    data = spread(w, INPUT, INPUT_PARTITIONS)
    data.values[2].insert(10, b'{"kind": "row", "schema": ')
    data.idents[2].insert(10, None)
    dead = tmp_path / "dead.jsonl"
    async with Group(tmp_path, w, data, f"dlq-{unique}") as g:
        g.start("a", CDCSINK_SOURCE__ON_INVALID="dead-letter", CDCSINK_SOURCE__DEAD_LETTER=f"file://{dead}")
        await g.progress(1.0)  # the offsets pass the bad message once it is set aside
        await g.stop("a")
        assert not g.watcher.failures, g.watcher.failures[:5]
        seen = await g.output()
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(r["origin"], r["raw"]) for r in records] == [(f"dlq-{unique}-input[2]@10", '{"kind": "row", "schema": ')]
    assert records[0]["reason"].startswith("not valid JSON")
    check_delivery(w, seen)
