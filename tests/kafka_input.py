"""An upstream input topic for the kafka source: a generated workload spread over
input partitions the way a capture process writes it (each key in one
partition, resolved events and DDL copies on every partition)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.workload import Workload, event_identity


@dataclass
class PartitionedInput:
    topic: str
    partitions: int
    #: Per input partition: the events (raw values) in offset order.
    values: list[list[bytes]] = field(default_factory=list)
    #: Per input partition: identity of each offset's event (None for resolved events).
    idents: list[list[tuple | None]] = field(default_factory=list)

    @property
    def ends(self) -> dict[int, int]:
        return {p: len(v) for p, v in enumerate(self.values)}


def spread(w: Workload, topic: str, partitions: int) -> PartitionedInput:
    """Rows to the partition of their key; resolved events and DDLs to every partition."""
    out = PartitionedInput(topic, partitions, [[] for _ in range(partitions)], [[] for _ in range(partitions)])
    for line in w.lines:
        event = orjson.loads(line)
        ident = event_identity(event)
        if event["kind"] == "row":
            key = f"{event['schema']}.{event['table']}.{ident[3]}".encode()  # type: ignore[index]
            targets = [zlib.crc32(key) % partitions]
        else:
            targets = list(range(partitions))
        for p in targets:
            out.values[p].append(line)
            out.idents[p].append(ident)
    return out


async def create_topic(bootstrap: str, topic: str, partitions: int = 1, configs: dict[str, str] | None = None) -> None:
    """Create ``topic`` (replication factor 1), with topic ``configs`` if given."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})])
    finally:
        await admin.close()


async def produce(bootstrap: str, data: PartitionedInput) -> None:
    await create_topic(bootstrap, data.topic, data.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for p, values in enumerate(data.values):
            batch = producer.create_batch()
            for value in values:
                if batch.append(key=None, value=value, timestamp=None) is None:
                    await (await producer.send_batch(batch, data.topic, partition=p))
                    batch = producer.create_batch()
                    batch.append(key=None, value=value, timestamp=None)
            await (await producer.send_batch(batch, data.topic, partition=p))
    finally:
        await producer.stop()


async def append_resolved(bootstrap: str, data: PartitionedInput, ts: int) -> None:
    """A resolved event at ``ts`` on every partition, as a live upstream sends
    them periodically (kept in ``data`` too)."""
    value = orjson.dumps({"kind": "resolved", "commit_ts": ts})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for p in range(data.partitions):
            await producer.send_and_wait(data.topic, value, partition=p)
            data.values[p].append(value)
            data.idents[p].append(None)
    finally:
        await producer.stop()
