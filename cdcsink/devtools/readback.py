"""Read topics back from Kafka: used by `make run` and the end-to-end tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


async def read_back(
    bootstrap: str,
    expected: dict[tuple[str, int], int],
    *,
    idle_timeout: float = 3.0,
    total_timeout: float = 120.0,
    **client: object,
) -> dict[tuple[str, int], list[Record]]:
    """Every record of each listed partition, from offset 0, until the expected
    count is reached (or nothing new arrives for ``idle_timeout``). End offsets
    are not trusted: some brokers report them inside the last batch. ``client``:
    more consumer settings (TLS, SASL)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=32 * 1024 * 1024, **client  # type: ignore[arg-type]
    )
    await consumer.start()
    records: dict[tuple[str, int], list[Record]] = {tp: [] for tp in expected}
    try:
        tps = [TopicPartition(t, p) for t, p in expected]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total_timeout
        last_progress = loop.time()
        while loop.time() < deadline:
            if all(len(records[tp]) >= n for tp, n in expected.items()):
                break
            batch = await consumer.getmany(timeout_ms=200, max_records=50_000)
            if batch:
                last_progress = loop.time()
            elif loop.time() - last_progress > idle_timeout:
                break
            for tp, msgs in batch.items():
                records[(tp.topic, tp.partition)].extend(
                    Record(m.topic, m.partition, m.offset, m.key, m.value) for m in msgs
                )
    finally:
        await consumer.stop()
    return records
