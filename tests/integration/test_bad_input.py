"""Invalid input lines against a real broker: stop at them, or set them aside and go on."""

from __future__ import annotations

import asyncio
import json
import zlib

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from cdcsink.config import Settings
from cdcsink.errors import InvalidEventError
from cdcsink.devtools.readback import read_back
from cdcsink.pipeline import Pipeline
from tests.workload import Seen, check_delivery, decode_canal, generate
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]

BAD = [b"{not json", b'{"kind":"row","schema":"s"}', b'{"kind":"resolved","commit_ts":1}']


def input_with_bad_lines(tmp_path):
    w = generate(400, tables=2, resolved_every=40)
    lines = list(w.lines)
    # Bad lines in the middle: a few rows after the 5th resolved event.
    at = [i for i, l in enumerate(lines) if b'"resolved"' in l][4] + 1 + 7
    lines[at:at] = BAD
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(l + b"\n" for l in lines))
    return w, path, at


def settings(bootstrap, path, cp, topic, **source):
    return Settings(
        source={"type": "file", "path": str(path), **source},
        sink={"uri": with_client(f"kafka://{bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=2")},
        checkpoint={"store": f"file://{cp}", "interval": "50ms"},
    )


async def test_fail_stops_at_the_line_and_checkpoint_does_not_pass_it(kafka_bootstrap, unique, tmp_path):
    w, path, at = input_with_bad_lines(tmp_path)
    cp = tmp_path / "cp.json"
    pipeline = Pipeline(settings(kafka_bootstrap, path, cp, f"bad-{unique}"))
    with pytest.raises(InvalidEventError) as info:
        await pipeline.run()
    assert str(info.value).startswith(f"{path}:{at + 1}: not valid JSON")
    stored = json.loads(cp.read_text())
    data = path.read_bytes()
    bad_offset = data.index(BAD[0])
    # Up to the bad line and not past it: the rows before it are delivered, and covered.
    before = w.lines[at - 1] + b"\n"
    assert stored["position"] == {
        "path": str(path), "offset": bad_offset, "line": at, "line_bytes": len(before), "line_crc32": zlib.crc32(before)
    }
    assert stored["checkpoint_ts"] == orjson.loads([l for l in w.lines if b'"resolved"' in l][4])["commit_ts"]
    assert pipeline.metrics.invalid.labels("default", "json")._value.get() == 1

    # The lines mended (blanked, offsets kept), a restart sends the rest, and nothing twice.
    for line in BAD:
        data = data.replace(line, b" " * len(line))
    path.write_bytes(data)
    result = await Pipeline(settings(kafka_bootstrap, path, cp, f"bad-{unique}")).run()
    assert result.checkpoint_ts == w.last_resolved
    records = await read_back(kafka_bootstrap, {(f"bad-{unique}", p): 10**9 for p in range(2)}, idle_timeout=1.0)
    check_delivery(w, Seen({tp: decode_canal(recs) for tp, recs in records.items() if recs}))


async def test_dead_letter_topic_gets_raw_lines_with_reasons(kafka_bootstrap, unique, tmp_path):
    w, path, _ = input_with_bad_lines(tmp_path)
    topic = f"dlq-{unique}"
    pipeline = Pipeline(settings(kafka_bootstrap, path, tmp_path / "cp.json", topic, on_invalid="dead-letter"))
    result = await pipeline.run()
    assert result.rows == w.rows and result.checkpoint_ts == w.last_resolved
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(f"{topic}-dlq", 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got = []
        for _ in range(50):
            batch = await consumer.getmany(tp, timeout_ms=200)
            got += batch.get(tp, [])
            if len(got) >= len(BAD):
                break
    finally:
        await consumer.stop()
    assert [m.value for m in got] == BAD
    reasons = [dict(m.headers)["reason"].decode() for m in got]
    assert reasons[0].startswith("not valid JSON") and "table must be" in reasons[1] and "goes back" in reasons[2]
    bad_at = [i + 1 for i, line in enumerate(path.read_bytes().split(b"\n")) if line in BAD]
    assert [dict(m.headers)["origin"].decode() for m in got] == [f"{path}:{n}" for n in bad_at]
    invalid = pipeline.metrics.invalid
    assert sum(invalid.labels("default", code)._value.get() for code in ("json", "field", "order")) == 3


async def test_dead_letter_file(kafka_bootstrap, unique, tmp_path):
    w, path, at = input_with_bad_lines(tmp_path)
    dlq = tmp_path / "dlq" / "bad.ndjson"
    s = settings(kafka_bootstrap, path, tmp_path / "cp.json", f"dlqf-{unique}", on_invalid="dead-letter", dead_letter=f"file://{dlq}")
    result = await asyncio.wait_for(Pipeline(s).run(), 60)
    assert result.rows == w.rows
    records = [json.loads(line) for line in dlq.read_text().splitlines()]
    assert [r["raw"].encode() for r in records] == BAD
    assert [r["origin"] for r in records] == [f"{path}:{at + 1 + i}" for i in range(3)]


async def test_a_dead_letter_file_that_cannot_be_written_is_refused_at_start(kafka_bootstrap, unique, tmp_path):
    from cdcsink.errors import ConfigError

    w, path, _ = input_with_bad_lines(tmp_path)
    (tmp_path / "plain").write_text("")
    s = settings(kafka_bootstrap, path, tmp_path / "cp.json", f"dlqx-{unique}", on_invalid="dead-letter",
                 dead_letter=f"file://{tmp_path}/plain/bad.ndjson")
    with pytest.raises(ConfigError, match="source.dead-letter: cannot create"):
        await Pipeline(s).run()
    assert not (tmp_path / "cp.json").exists()


async def test_a_line_that_cannot_be_set_aside_stops_the_run_before_the_checkpoint_passes_it(
    kafka_bootstrap, unique, tmp_path, monkeypatch
):
    import cdcsink.pipeline

    class Failing:
        description = "a target that fails"

        async def put(self, error):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(cdcsink.pipeline, "open_dead_letter", lambda *args: Failing())
    w, path, at = input_with_bad_lines(tmp_path)
    cp = tmp_path / "cp.json"
    with pytest.raises(OSError, match="No space left"):
        await Pipeline(settings(kafka_bootstrap, path, cp, f"dlqy-{unique}", on_invalid="dead-letter")).run()
    # Never past the line (no checkpoint at all is the start of the input).
    assert not cp.exists() or json.loads(cp.read_text())["position"]["offset"] <= path.read_bytes().index(BAD[0])


def input_with_a_long_line(tmp_path, length: int):
    """Rows with one line of ``length`` bytes (a row with a long note) after the 3rd resolved event."""
    w = generate(300, tables=2, resolved_every=30)
    lines = list(w.lines)
    at = [i for i, l in enumerate(lines) if b'"resolved"' in l][2] + 1 + 4
    long_line = b'{"kind":"row","schema":"s","table":"t","note":"' + b"n" * length
    long_line = long_line[: length - 2] + b'"}'
    lines[at:at] = [long_line]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(l + b"\n" for l in lines))
    return w, path, at, long_line


async def test_a_line_over_max_line_bytes_stops_the_run_there(kafka_bootstrap, unique, tmp_path):
    w, path, at, long_line = input_with_a_long_line(tmp_path, 200_000)
    cp = tmp_path / "cp.json"
    pipeline = Pipeline(settings(kafka_bootstrap, path, cp, f"long-{unique}", max_line_bytes=4096))
    with pytest.raises(InvalidEventError) as info:
        await pipeline.run()
    assert str(info.value) == f"{path}:{at + 1}: line longer than 4096 bytes (it has 200000; source.max-line-bytes)"
    stored = json.loads(cp.read_text())
    offset = path.read_bytes().index(long_line)
    before = path.read_bytes()[: offset - 1].rsplit(b"\n", 1)[-1] + b"\n"
    assert stored["position"] == {
        "path": str(path), "offset": offset, "line": at, "line_bytes": len(before), "line_crc32": zlib.crc32(before)
    }
    assert pipeline.metrics.invalid.labels("default", "too_long")._value.get() == 1


async def test_a_line_over_max_line_bytes_is_set_aside_as_its_head(kafka_bootstrap, unique, tmp_path):
    w, path, at, long_line = input_with_a_long_line(tmp_path, 200_000)
    dlq = tmp_path / "bad.ndjson"
    s = settings(kafka_bootstrap, path, tmp_path / "cp.json", f"longd-{unique}", max_line_bytes=4096,
                 on_invalid="dead-letter", dead_letter=f"file://{dlq}")
    result = await asyncio.wait_for(Pipeline(s).run(), 60)
    assert result.rows == w.rows and result.checkpoint_ts == w.last_resolved
    [record] = [json.loads(line) for line in dlq.read_text().splitlines()]
    assert record["origin"] == f"{path}:{at + 1}"
    assert record["reason"] == "line longer than 4096 bytes (it has 200000; source.max-line-bytes)"
    assert record["raw"].encode() == long_line[:1024]
