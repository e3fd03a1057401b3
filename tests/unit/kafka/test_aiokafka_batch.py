"""The aiokafka record batch: records written straight to the client's record
builder, read back with the client's own record reader."""

from __future__ import annotations

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.memory_records import MemoryRecords

from cdcsink.kafka.aiokafka_client import AiokafkaBatch


def _records(batch: AiokafkaBatch) -> list[tuple[bytes | None, bytes]]:
    records = MemoryRecords(bytes(batch.builder._build()))
    out = []
    while records.has_next():
        for record in records.next_batch():
            out.append((record.key, record.value))
    return out


def _messages(n: int, size: int = 100) -> list[tuple[bytes | None, bytes]]:
    return [(b"k%d" % i if i % 2 else None, b"%06d" % i + b"x" * (size - 6)) for i in range(n)]


def test_a_batch_takes_records_until_full_and_the_rest_go_to_the_next():
    messages = _messages(100)
    batches = []
    sent = 0
    while sent < len(messages):
        batch = AiokafkaBatch(BatchBuilder(2048, 0))
        added = batch.extend(messages, sent)
        assert added > 0
        assert len(batch) == added == batch.builder.record_count()
        batches.append(batch)
        sent += added
    assert len(batches) > 3  # 100 records of ~100 bytes do not fit in 2 KiB
    assert all(batch.builder.closed() for batch in batches[:-1])
    assert [record for batch in batches for record in _records(batch)] == messages


def test_extending_an_open_batch_appends_after_its_records():
    messages = _messages(6)
    batch = AiokafkaBatch(BatchBuilder(1 << 20, 0))
    assert batch.extend(messages[:2], 0) == 2
    assert batch.extend(messages, 2) == 4
    assert _records(batch) == messages
    assert batch.builder.record_count() == 6


def test_an_empty_batch_takes_one_record_larger_than_the_batch_size():
    big = [(None, b"y" * 5000), (None, b"z")]
    batch = AiokafkaBatch(BatchBuilder(1024, 0))
    assert batch.extend(big, 0) == 1
    assert _records(batch) == big[:1]
