"""Failure behaviour against a real broker: fail fast, never checkpoint past an ack."""

from __future__ import annotations

import asyncio
import json

import pytest

from cdcsink.config import Settings
from cdcsink.devtools.broker import DevBroker
from cdcsink.errors import DeliveryError, MessageTooLargeError
from cdcsink.pipeline import Pipeline
from tests.kafka_input import create_topic
from tests.workload import generate
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]


def settings(bootstrap, path, cp, topic, extra=""):
    return Settings(
        changefeed="fail",
        source={"type": "file", "path": str(path), "follow": True},
        sink={"uri": with_client(f"kafka://{bootstrap}/{topic}?protocol=canal-json&partition-num=2&enable-tidb-extension=true"
                                 f"&write-timeout=2s&read-timeout=2s&max-retry=1{extra}")},
        checkpoint={"store": f"file://{cp}", "interval": "100ms"},
    )


async def test_broker_death_stops_the_run_with_a_delivery_error(tmp_path, unique):
    w = generate(2000, tables=2, resolved_every=50)
    path = w.write(tmp_path / "events.ndjson")
    cp = tmp_path / "cp.json"
    broker = DevBroker(log_path=tmp_path / "broker.log").start()
    try:
        pipeline = Pipeline(settings(broker.bootstrap, path, cp, f"dies-{unique}"))
        run = asyncio.create_task(pipeline.run())
        # follow: true keeps the run alive after the input; wait for the first checkpoint.
        for _ in range(200):
            if cp.exists():
                break
            await asyncio.sleep(0.05)
        assert cp.exists(), "no checkpoint before the broker was stopped"
        acked_before = json.loads(cp.read_text())["checkpoint_ts"]
        broker.stop()
        with path.open("ab") as f:
            f.write(b"".join(line + b"\n" for line in generate(200, tables=2, resolved_every=50, seed=9, start_ts=w.last_resolved + 10).lines))
        with pytest.raises(DeliveryError) as info:
            await asyncio.wait_for(run, 60)
        text = str(info.value)
        assert f"dies-{unique}" in text and "commit_ts=" in text
        # Nothing sent to a dead broker was checkpointed.
        assert acked_before <= json.loads(cp.read_text())["checkpoint_ts"] <= w.last_resolved
    finally:
        broker.stop()


async def test_max_message_bytes_follows_the_topic_limit(kafka_bootstrap, tmp_path, unique):
    topic = f"small-{unique}"
    await create_topic(kafka_bootstrap, topic, 2, {"max.message.bytes": "600"})
    path = tmp_path / "events.ndjson"
    row = {"kind": "row", "schema": "s", "table": "t", "commit_ts": 5, "op": "insert", "pk": ["id"],
           "columns": {"id": "int", "note": "text"}, "after": {"id": 1, "note": "x" * 700}}
    path.write_text(json.dumps(row) + "\n")
    s = settings(kafka_bootstrap, path, tmp_path / "cp.json", topic)
    s.source.follow = False
    with pytest.raises(MessageTooLargeError) as info:
        await asyncio.wait_for(Pipeline(s).run(), 30)
    assert "s.t commit_ts=5 pk={'id': 1}" in str(info.value) and topic in str(info.value)
    assert not (tmp_path / "cp.json").exists() or json.loads((tmp_path / "cp.json").read_text())["checkpoint_ts"] < 5


async def test_partition_num_and_auto_create_topic_are_checked_against_the_broker(kafka_bootstrap, tmp_path, unique):
    from cdcsink.errors import ConfigError

    topic = f"two-{unique}"
    await create_topic(kafka_bootstrap, topic, 2)
    path = tmp_path / "events.ndjson"
    generate(10, tables=1, resolved_every=5).write(path)
    s = settings(kafka_bootstrap, path, tmp_path / "cp.json", topic)
    s.source.follow = False
    s.sink.partition_num = 3
    with pytest.raises(ConfigError, match=f"sink.partition-num: 3 is more than the 2 partitions topic '{topic}' has"):
        await asyncio.wait_for(Pipeline(s).run(), 30)
    missing = f"missing-{unique}"
    s = settings(kafka_bootstrap, path, tmp_path / "cp.json", missing, "&auto-create-topic=false")
    s.source.follow = False
    with pytest.raises(ConfigError, match=f"topic '{missing}' does not exist and auto-create-topic is false"):
        await asyncio.wait_for(Pipeline(s).run(), 30)
    assert not (tmp_path / "cp.json").exists()
