"""CDC topics read back as events, against the dev broker:

- per protocol: NDJSON -> cdcsink -> Kafka -> ``cdcsink consume`` -> the same
  events (count, per-key order, values, DDL once each, the final resolved ts),
  and its output is valid input for ``cdcsink run``;
- a chain: cdcsink writes canal-json to topic A; a second cdcsink reads A
  (``source.format: canal-json``) and writes open-protocol or simple to topic
  B; B decodes to the original events;
- the simple protocol read from the middle of a topic: the table schema is
  read back from the bootstrap message before the starting offset;
- one-line errors: an unreachable broker, an unknown topic, a message that does
  not decode (named by its offset; --skip-invalid goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from cdcsink.config import Settings
from cdcsink.consume import ConsumeOptions, Consumer
from cdcsink.decode import Decoder
from cdcsink.devtools.broker import free_port
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from cdcsink.pipeline import Pipeline
from tests.kafka_input import create_topic
from tests.workload import Workload, generate

pytestmark = pytest.mark.broker

#: The sink URI parameters each protocol is written with.
PROTOCOLS = {
    "canal-json": "&enable-tidb-extension=true",
    "open-protocol": "&max-batch-size=4",
    "simple": "&send-bootstrap-in-msg-count=40",
    "debezium": "&enable-tidb-extension=true",
    "maxwell": "",
}
TYPES_COLUMNS = {
    "id": "bigint", "u": "bigint unsigned", "f": "float", "d": "double", "dec": "decimal(12,3)",
    "dt": "datetime(3)", "t": "time(2)", "y": "year", "txt": "text", "bin": "varbinary(16)", "blob": "blob",
    "bit": "bit(10)", "j": "json", "e": "enum('a','b','c')", "s": "set('x','y')",
    "name": {"type": "varchar(32)", "nullable": False, "unique": True},
}


def typed_lines(start_ts: int) -> list[bytes]:
    """A table with a column of most types, with edge values (every byte, NULL, non-ASCII)."""
    base = {"kind": "row", "schema": "shop", "table": "types", "pk": ["id"], "columns": TYPES_COLUMNS}
    full = {"id": 1, "u": 18446744073709551615, "f": 0.5, "d": -1.25e-7, "dec": "-123456789.125",
            "dt": "2024-02-29 23:59:59.123", "t": "-838:59:59.00", "y": 2155, "txt": "é😀\t\"<&>",
            "bin": {"hex": "00ff10"}, "blob": {"base64": "AAEC/w=="}, "bit": 1023, "j": {"a": [1, None]},
            "e": "c", "s": "x,y", "name": "one"}
    empty = {"id": 2, "u": 0, "f": None, "d": None, "dec": None, "dt": None, "t": None, "y": None, "txt": "",
             "bin": "", "blob": None, "bit": 0, "j": None, "e": None, "s": "", "name": "two"}
    return [orjson.dumps(line) for line in (
        dict(base, commit_ts=start_ts, op="insert", after=full),
        dict(base, commit_ts=start_ts + 1, op="insert", after=empty),
        dict(base, commit_ts=start_ts + 2, op="update", before=empty, after=dict(empty, txt="later", e=1)),
        {"kind": "resolved", "commit_ts": start_ts + 2},
    )]


def workload() -> Workload:
    w = generate(240, tables=3, keys=20, resolved_every=40, ddl_every=70, seed=11)
    w.lines += typed_lines(w.last_resolved + 10)
    w.last_resolved += 12
    return w


def sink_settings(bootstrap: str, source: dict[str, Any], topic: str, protocol: str, tmp_path: Path, name: str,
                  partition: str = "index-value", extra: str = "") -> Settings:
    return Settings(
        changefeed=name,
        source=source,
        sink={"uri": f"kafka://{bootstrap}/{topic}?protocol={protocol}&partition-num=3{PROTOCOLS[protocol]}{extra}",
              "dispatchers": [{"matcher": ["shop.*"], "topic": topic, "partition": partition}]},
        checkpoint={"store": f"file://{tmp_path / (name + '-cp.json')}", "interval": "50ms"},
        http={"enabled": False},
    )


async def consume_async(bootstrap: str, topic: str, protocol: str, **options: Any) -> tuple[list[bytes], str]:
    out, err = io.BytesIO(), io.StringIO()
    await Consumer(ConsumeOptions([bootstrap], topic, protocol, **options), out, err).run()
    return out.getvalue().splitlines(), err.getvalue()


def decoded(lines: list[bytes]) -> list[Any]:
    """The lines through cdcsink's own input decoder, in order (so its ordering rules hold too)."""
    decoder = Decoder()
    return [decoder.decode(line, "consume", n) for n, line in enumerate(lines, 1)]


def _same_text(a: Any, b: Any) -> bool:
    """Debezium keeps a decimal as the double it sent and a time with 6 digits (README): equal by value."""
    if a == b:
        return True
    if type(a) is str and type(b) is str:
        from decimal import Decimal, InvalidOperation

        try:
            return Decimal(a) == Decimal(b)
        except InvalidOperation:
            return a.rstrip("0").rstrip(".") == b.rstrip("0").rstrip(".")
    return False


def _same_image(got: dict[str, Any] | None, want: dict[str, Any] | None, loose: bool) -> bool:
    if got is None or want is None or not loose:
        return got == want
    differ = {k: (got.get(k), want.get(k)) for k in got.keys() | want.keys() if not _same_text(got.get(k), want.get(k))}
    assert not differ, differ
    return True


def check_same_events(w: Workload, events: list[Any], loose: bool = False) -> None:
    """The consumed events are the input's: every row once with its values, per-key order,
    every DDL once, resolved events that only rise and end at the input's last one."""
    expected = decoded(w.lines)
    rows = [e for e in events if type(e) is RowEvent]
    want_rows = [e for e in expected if type(e) is RowEvent]
    assert len(rows) == len(want_rows)
    by_change = {(e.schema, e.table, e.commit_ts): e for e in want_rows}
    for row in rows:
        want = by_change[(row.schema, row.table, row.commit_ts)]
        assert row.op == want.op, row
        assert _same_image(row.before, want.before, loose), (row, row.before, want.before)
        assert _same_image(row.after, want.after, loose), (row, row.after, want.after)
    per_key: dict[tuple, list[int]] = defaultdict(list)
    for row in rows:
        image = row.after if row.after is not None else row.before
        per_key[(row.schema, row.table, image["id"])].append(row.commit_ts)
    want_per_key: dict[tuple, list[int]] = defaultdict(list)
    for row in want_rows:
        image = row.after if row.after is not None else row.before
        want_per_key[(row.schema, row.table, image["id"])].append(row.commit_ts)
    assert per_key == want_per_key
    ddls = [(e.schema, e.table, e.commit_ts, e.query) for e in events if type(e) is DDLEvent]
    assert sorted(ddls) == sorted((e.schema, e.table, e.commit_ts, e.query) for e in expected if type(e) is DDLEvent)
    marks = [e.commit_ts for e in events if type(e) is ResolvedEvent]
    assert marks == sorted(marks) and marks[-1] == w.last_resolved


@pytest.mark.parametrize("protocol", [protocol for protocol in PROTOCOLS if protocol != "maxwell"])
async def test_what_cdcsink_writes_consumes_back_to_the_same_events(kafka_bootstrap, unique, tmp_path, protocol):
    w = workload()
    topic = f"consume-{protocol}-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    result = await Pipeline(sink_settings(kafka_bootstrap, source, topic, protocol, tmp_path, "writer")).run()
    assert result.rows == w.rows + 3
    lines, err = await consume_async(kafka_bootstrap, topic, protocol)
    assert err == ""
    events = decoded(lines)
    check_same_events(w, events, loose=protocol == "debezium")
    # The typed rows keep their declarations where the protocol carries them.
    typed = next(e for e in events if type(e) is RowEvent and e.table == "types")
    if protocol == "simple":
        assert {c.name: c.declared for c in typed.table_info.columns}["dec"] == "decimal(12,3)"
        assert typed.table_info.column("name").unique_key


@pytest.mark.parametrize(("upstream", "upstream_extra", "downstream"), [
    ("canal-json", "", "open-protocol"),
    # simple writes each column's size, so it needs canal-json that carries them (else the widest are written).
    ("canal-json", "&content-compatible=true", "simple"),
    # DDL on every input partition: each sent once downstream.
    ("open-protocol", "", "canal-json"),
    ("simple", "", "canal-json"),
    # debezium writes bit widths and enum/set members too.
    ("canal-json", "&content-compatible=true", "debezium"),
    ("debezium", "", "simple"),
])
async def test_a_second_cdcsink_reads_a_cdc_topic_and_writes_another_protocol(kafka_bootstrap, unique, tmp_path,
                                                                             upstream, upstream_extra, downstream):
    w = workload()
    topic_a, topic_b = f"chain-a-{unique}", f"chain-b-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    await Pipeline(sink_settings(kafka_bootstrap, source, topic_a, upstream, tmp_path, "first",
                                 extra=upstream_extra)).run()
    kafka_source = {"type": "kafka", "bootstrap": kafka_bootstrap, "topics": [topic_a], "group": f"chain-{unique}",
                    "format": upstream}
    second = Pipeline(sink_settings(kafka_bootstrap, kafka_source, topic_b, downstream, tmp_path, "second"))
    running = asyncio.create_task(second.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while True:
            assert not running.done(), running.result()
            with_b = await _topic_exists(kafka_bootstrap, topic_b)
            events = decoded((await consume_async(kafka_bootstrap, topic_b, downstream))[0]) if with_b else []
            marks = [e.commit_ts for e in events if type(e) is ResolvedEvent]
            if marks and marks[-1] >= w.last_resolved:
                break
            assert loop.time() < deadline, f"topic B holds {len(events)} events, resolved {marks[-1:]}"
            await asyncio.sleep(0.5)
    finally:
        second.request_stop()
        await asyncio.wait_for(running, 60)
    check_same_events(w, events, loose="debezium" in (upstream, downstream))


async def _topic_exists(bootstrap: str, topic: str) -> bool:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return topic in await consumer.topics()
    finally:
        await consumer.stop()


async def test_simple_read_from_the_middle_finds_the_table_schema_before_it(kafka_bootstrap, unique, tmp_path):
    w = generate(30, tables=1, keys=5, resolved_every=10, seed=3)
    topic = f"simple-middle-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    # All rows in one partition: its bootstrap message is at its start.
    await Pipeline(sink_settings(kafka_bootstrap, source, topic, "simple", tmp_path, "writer", "table")).run()
    everything, _ = await consume_async(kafka_bootstrap, topic, "simple", partitions=[0, 1, 2])
    lines, err = await consume_async(kafka_bootstrap, topic, "simple", start="offset", start_at=5)
    rows = [e for e in decoded(lines) if type(e) is RowEvent]
    assert rows and err == ""
    assert [(r.table, r.commit_ts, r.after) for r in rows] == [
        (r.table, r.commit_ts, r.after) for r in decoded(everything) if type(r) is RowEvent][-len(rows):]


async def test_count_and_partition_limit_what_is_printed(kafka_bootstrap, unique, tmp_path):
    w = generate(60, tables=2, keys=10, resolved_every=20, seed=5)
    topic = f"consume-count-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    await Pipeline(sink_settings(kafka_bootstrap, source, topic, "canal-json", tmp_path, "writer")).run()
    lines, _ = await consume_async(kafka_bootstrap, topic, "canal-json", count=7)
    assert len(lines) == 7
    lines, _ = await consume_async(kafka_bootstrap, topic, "canal-json", partitions=[1])
    assert lines and all(orjson.loads(line)["kind"] != "ddl" for line in lines)  # canal-json DDL is on partition 0


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cdcsink", "consume", *args], capture_output=True, text=True,
                          timeout=timeout)


async def test_one_line_errors(kafka_bootstrap, unique):
    down = run_cli("--bootstrap", f"127.0.0.1:{free_port()}", "--topic", "t", "--protocol", "simple")
    assert down.returncode == 1 and down.stdout == ""
    assert down.stderr.strip().splitlines() == [
        f"cdcsink: kafka {down.args[5]}: cannot connect (bootstrap): connection refused"]
    missing = run_cli("--bootstrap", kafka_bootstrap, "--topic", f"nope-{unique}", "--protocol", "canal-json")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"cdcsink: topic 'nope-{unique}' does not exist on {kafka_bootstrap}"

    topic = f"consume-bad-{unique}"
    await create_topic(kafka_bootstrap, topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        good = b'{"id":0,"database":"s","table":"t","pkNames":["id"],"isDdl":false,"type":"INSERT","es":1,"ts":1,' \
               b'"sql":"","sqlType":{"id":4},"mysqlType":{"id":"int"},"old":null,"data":[{"id":"1"}],"_tidb":{"commitTs":5}}'
        for value in (good, b"{broken", good.replace(b'"commitTs":5', b'"commitTs":6')):
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    bad = run_cli("--bootstrap", kafka_bootstrap, "--topic", topic, "--protocol", "canal-json")
    assert bad.returncode == 3
    assert len(bad.stdout.splitlines()) == 1  # what came before the bad message is printed
    assert bad.stderr.strip().startswith(f"cdcsink: {topic}[0]@1: canal-json message is not JSON")
    skipped = run_cli("--bootstrap", kafka_bootstrap, "--topic", topic, "--protocol", "canal-json", "--skip-invalid")
    assert skipped.returncode == 0 and len(skipped.stdout.splitlines()) == 2
    assert f"skipped {topic}[0]@1: canal-json message is not JSON" in skipped.stderr
    table = run_cli("--bootstrap", kafka_bootstrap, "--topic", topic, "--protocol", "canal-json", "--skip-invalid",
                    "--output", "table")
    assert table.stdout.splitlines()[0].startswith("PARTITION@OFFSET")
    assert "0@2" in table.stdout and "row insert" in table.stdout and "s.t" in table.stdout


async def test_a_kafka_source_resuming_past_a_simple_bootstrap_reads_its_table_schema_back(kafka_bootstrap, unique,
                                                                                            tmp_path):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    w = generate(40, tables=1, keys=8, resolved_every=10, seed=9)
    topic_a, topic_b, group = f"resume-a-{unique}", f"resume-b-{unique}", f"resume-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    await Pipeline(sink_settings(kafka_bootstrap, source, topic_a, "simple", tmp_path, "first", "table")).run()
    # The group's committed offsets are past each partition's bootstrap message (its first record): as after a
    # restart, the table schema the rows need is behind them.
    committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        partitions = [TopicPartition(topic_a, p) for p in range(3)]
        committer.assign(partitions)
        await committer.commit({tp: 3 for tp in partitions})
    finally:
        await committer.stop()
    after_commit = decoded((await consume_async(kafka_bootstrap, topic_a, "simple", start="offset", start_at=3))[0])
    kafka_source = {"type": "kafka", "bootstrap": kafka_bootstrap, "topics": [topic_a], "group": group, "format": "simple"}
    second = Pipeline(sink_settings(kafka_bootstrap, kafka_source, topic_b, "canal-json", tmp_path, "second"))
    running = asyncio.create_task(second.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:
            assert not running.done(), running.result()
            events = decoded((await consume_async(kafka_bootstrap, topic_b, "canal-json"))[0]) \
                if await _topic_exists(kafka_bootstrap, topic_b) else []
            marks = [e.commit_ts for e in events if type(e) is ResolvedEvent]
            if marks and marks[-1] >= w.last_resolved:
                break
            assert loop.time() < deadline, f"topic B holds {len(events)} events"
            await asyncio.sleep(0.5)
    finally:
        second.request_stop()
        await asyncio.wait_for(running, 60)
    rows = sorted((e.commit_ts, e.op, e.after, e.before) for e in events if type(e) is RowEvent)
    want = sorted((e.commit_ts, e.op, e.after, e.before) for e in after_commit if type(e) is RowEvent)
    assert rows == want and 0 < len(rows) < w.rows  # every row after the committed offsets, none before


async def test_canal_json_without_watermarks_as_input_moves_offsets_and_keeps_per_key_order(kafka_bootstrap, unique,
                                                                                           tmp_path):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    w = workload()
    topic_a, topic_b, group = f"nowm-a-{unique}", f"nowm-b-{unique}", f"nowm-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    first = sink_settings(kafka_bootstrap, source, topic_a, "canal-json", tmp_path, "first")
    first.sink.enable_tidb_extension = False  # no _tidb: no commit ts, no TIDB_WATERMARK
    result = await Pipeline(first).run()
    ends = {p: n for (topic, p), n in result.messages.items() if topic == topic_a}
    kafka_source = {"type": "kafka", "bootstrap": kafka_bootstrap, "topics": [topic_a], "group": group,
                    "format": "canal-json"}
    second = Pipeline(sink_settings(kafka_bootstrap, kafka_source, topic_b, "open-protocol", tmp_path, "second"))
    running = asyncio.create_task(second.run())
    committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:  # every input offset committed: each only once its events were acknowledged
            assert not running.done(), running.result()
            committed = {p: await committer.committed(TopicPartition(topic_a, p)) for p in ends}
            if all(committed[p] == ends[p] for p in ends):
                break
            assert loop.time() < deadline, (committed, ends)
            await asyncio.sleep(0.3)
    finally:
        await committer.stop()
        second.request_stop()
        await asyncio.wait_for(running, 60)
    lines, _ = await consume_async(kafka_bootstrap, topic_b, "open-protocol")
    events = decoded(lines)
    assert not any(type(e) is ResolvedEvent and e.commit_ts for e in events)  # no watermark but 0 came through
    rows = [e for e in events if type(e) is RowEvent]
    assert len(rows) == w.rows + 3 and all(e.commit_ts == 0 for e in rows)
    expected = [e for e in decoded(w.lines) if type(e) is RowEvent]
    per_key: dict[tuple, list[Any]] = defaultdict(list)
    for e in rows:
        per_key[(e.table, (e.after or e.before)["id"])].append((e.op, e.before, e.after))
    want: dict[tuple, list[Any]] = defaultdict(list)
    for e in expected:
        want[(e.table, (e.after or e.before)["id"])].append((e.op, e.before, e.after))
    assert per_key == want
    ddls = sorted(e.query for e in events if type(e) is DDLEvent)
    assert ddls == sorted(e.query for e in decoded(w.lines) if type(e) is DDLEvent)


async def test_where_to_start_and_the_config_as_defaults(kafka_bootstrap, unique, tmp_path):
    w = generate(30, tables=1, keys=5, resolved_every=10, seed=4)
    topic = f"consume-start-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    await Pipeline(sink_settings(kafka_bootstrap, source, topic, "canal-json", tmp_path, "writer")).run()
    everything, _ = await consume_async(kafka_bootstrap, topic, "canal-json")
    # (partitions interleave as they arrive: compare the lines, not their order across partitions)
    assert sorted((await consume_async(kafka_bootstrap, topic, "canal-json", start="since", start_at=0))[0]) == sorted(everything)
    far = 4_000_000_000_000
    assert (await consume_async(kafka_bootstrap, topic, "canal-json", start="since", start_at=far))[0] == []
    assert (await consume_async(kafka_bootstrap, topic, "canal-json", start="end"))[0] == []
    # Brokers, default topic and protocol from the config's sink.uri.
    config = tmp_path / "cdcsink.yaml"
    config.write_text(f"source:\n  type: stdin\nsink:\n  uri: kafka://{kafka_bootstrap}/{topic}?protocol=canal-json\n")
    by_config = run_cli("--config", str(config), "--since", "1d")
    assert by_config.returncode == 0, by_config.stderr
    assert sorted(by_config.stdout.encode().splitlines()) == sorted(everything)


def test_a_terminal_gets_a_table(kafka_bootstrap, unique, tmp_path):
    import os
    import pty

    topic = f"consume-tty-{unique}"
    w = generate(5, tables=1, keys=5, resolved_every=5, seed=2)
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    asyncio.run(Pipeline(sink_settings(kafka_bootstrap, source, topic, "simple", tmp_path, "writer")).run())
    leader, follower = pty.openpty()
    try:
        process = subprocess.run([sys.executable, "-m", "cdcsink", "consume", "-b", kafka_bootstrap, "-t", topic,
                                  "-p", "simple"], stdout=follower, stderr=subprocess.PIPE, timeout=60)
        os.close(follower)
        output = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(leader, 65536):
                output += chunk
    finally:
        os.close(leader)
    assert process.returncode == 0, process.stderr
    lines = output.decode().splitlines()
    assert lines[0].startswith("PARTITION@OFFSET") and "COMMIT_TS" in lines[0]
    assert any("row insert" in line and "shop.t0" in line for line in lines[1:])


async def test_maxwell_consumes_back_to_the_same_rows_as_far_as_it_carries_them(kafka_bootstrap, unique, tmp_path):
    # Maxwell carries no column types, no key, no commit ts and no watermarks (README, maxwell messages): the
    # rows come back in order per key with their values as JSON gives them, each DDL once.
    w = generate(200, tables=3, keys=20, resolved_every=40, ddl_every=70, seed=13)
    topic = f"consume-maxwell-{unique}"
    source = {"type": "file", "path": str(w.write(tmp_path / "events.ndjson"))}
    await Pipeline(sink_settings(kafka_bootstrap, source, topic, "maxwell", tmp_path, "writer")).run()
    lines, err = await consume_async(kafka_bootstrap, topic, "maxwell")
    assert err == ""
    events = decoded(lines)
    rows = [e for e in events if type(e) is RowEvent]
    per_key: dict[tuple, list[Any]] = defaultdict(list)
    for e in rows:
        image = e.after if e.after is not None else e.before
        per_key[(e.table, image["id"])].append((e.op, image["qty"], image["note"]))
    want: dict[tuple, list[Any]] = defaultdict(list)
    for e in decoded(w.lines):
        if type(e) is RowEvent:
            image = e.after if e.after is not None else e.before
            want[(e.table, image["id"])].append((e.op, image["qty"], image["note"]))
    assert per_key == want
    assert sorted(e.query for e in events if type(e) is DDLEvent) == sorted(query for *_, query in w.ddls)
