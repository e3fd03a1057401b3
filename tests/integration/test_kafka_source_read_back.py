"""On assignment, a partition's resolved ts is read back from before its committed
offset, within ``READ_BACK`` records (README: Rebalance)."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import cdcsink.source.kafka as kafka_source
from cdcsink.source.config import SourceConfig
from cdcsink.source.kafka import KafkaSource
from tests.kafka_input import create_topic

pytestmark = pytest.mark.broker


async def test_the_last_resolved_event_before_the_commit_is_found_within_the_window_only(kafka_bootstrap, unique, monkeypatch):
    topic, group = f"read-back-{unique}", f"read-back-{unique}"
    await create_topic(kafka_bootstrap, topic)
    row = {"kind": "row", "schema": "s", "table": "t", "op": "insert", "pk": ["id"], "columns": {"id": "int"}}
    values = [orjson.dumps({"kind": "resolved", "commit_ts": 10})]
    values += [orjson.dumps({**row, "commit_ts": 11 + i, "after": {"id": i}}) for i in range(5)]
    values += [orjson.dumps({"kind": "resolved", "commit_ts": 20, "commit_time_ms": 1_700_000_000_000})]  # offset 6
    values += [orjson.dumps({**row, "commit_ts": 21 + i, "after": {"id": i}}) for i in range(25)]  # offsets 7..31
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([tp])
        await committer.commit({tp: len(values)})
    finally:
        await committer.stop()

    source = KafkaSource(SourceConfig(type="kafka", bootstrap=kafka_bootstrap, topics=topic, group=group))
    await source.start()
    try:
        partition = {(topic, 0)}
        monkeypatch.setattr(kafka_source, "READ_BACK", 40)  # reaches the log start: the last one wins
        assert await source.last_resolved(partition) == {(topic, 0): (20, 1_700_000_000_000)}
        monkeypatch.setattr(kafka_source, "READ_BACK", 26)  # offsets 6..31: just reaches it
        assert await source.last_resolved(partition) == {(topic, 0): (20, 1_700_000_000_000)}
        monkeypatch.setattr(kafka_source, "READ_BACK", 25)  # offsets 7..31: none in the window
        assert await source.last_resolved(partition) == {}
    finally:
        await source.close()
