"""The sink's ordering and ack bookkeeping, with a scripted in-memory producer.

These prove logic only (which batch may be sent when, what an ack releases);
that the same holds against Kafka is shown by tests/integration.
"""

from __future__ import annotations

import asyncio

import pytest

from cdcsink.checkpoint.tracker import CheckpointTracker
from cdcsink.errors import DeliveryError
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from cdcsink.sink.kafka_sink import KafkaSink


class Batch(list):
    def extend(self, messages, start):  # type: ignore[override]
        super().extend(messages[start:])
        return len(messages) - start


class ScriptedProducer:
    def __init__(self):
        self.sent: list[tuple[str, int, Batch, object]] = []
        self.log: list[str] = []

    def new_batch(self):
        return Batch()

    def is_idle(self, topic, partition):
        return True

    async def send_batch(self, batch, topic, partition, on_ack):
        self.sent.append((topic, partition, batch, on_ack))
        self.log.append(f"rows {[v.decode() for _, v in batch]}")

    def ack(self, index, error=None):
        self.sent[index][3](error)


class ScriptedSync:
    def __init__(self, log):
        self.log = log
        self.release = asyncio.Event()
        self.release.set()

    async def send_message(self, topic, partition, key, value):
        self.log.append(f"ddl {value.decode()} -> {topic}[{partition}]")
        await self.release.wait()

    async def send_messages(self, topic, partitions, key, value):
        for p in range(partitions):
            await self.send_message(topic, p, key, value)


class Route:
    def __init__(self, topic):
        self.topic = topic

    @staticmethod
    def partition(event, n):
        return event.after["id"] % n


class Router:
    def route(self, schema, table):
        return Route(f"{schema}.{table}")

    def ddl_topic(self, schema, table):
        return f"{schema}.{table}" if table else "default"


class Topics:
    async def partitions(self, topic):
        return 2


class Encoder:
    ddl_to_all_partitions = False

    def encode_row(self, e):
        return None, f"{e.table}:{e.after['id']}@{e.commit_ts}".encode()

    def pack(self, rows):
        return rows

    def encode_ddl(self, event):
        return None, event.query.encode()

    def encode_watermark(self, ts):
        return None, f"wm{ts}".encode()


def row(id_: int, ts: int, table: str = "t") -> RowEvent:
    return RowEvent("s", table, ts, "insert", ["id"], {"id": "int"}, None, {"id": id_})


def make_sink():
    producer = ScriptedProducer()
    sync = ScriptedSync(producer.log)
    tracker = CheckpointTracker()
    sink = KafkaSink(
        router=Router(),
        encoder=Encoder(),
        topics=Topics(),
        producer=producer,
        sync_producer=sync,
        tracker=tracker,
        default_topic="default",
        max_buffer_rows=1000,
    )
    return sink, producer, sync, tracker


async def test_checkpoint_moves_only_when_every_earlier_row_is_acked():
    sink, producer, _, tracker = make_sink()
    await sink.process([row(0, 1), row(1, 2), ResolvedEvent(2, position={"p": 1}), row(0, 3), ResolvedEvent(3, position={"p": 2})])
    await sink.flush()
    assert len(producer.sent) == 2  # partition 0 (ids 0, 0) and partition 1 (id 1)
    assert tracker.checkpoint_ts == 0
    by_partition = {p: i for i, (_, p, _, _) in enumerate(producer.sent)}
    producer.ack(by_partition[1])
    assert tracker.checkpoint_ts == 0  # partition 0 still holds a row of the first segment
    producer.ack(by_partition[0])
    assert (tracker.checkpoint_ts, tracker.position) == (3, {"p": 2})
    assert sink.unacked_rows == 0 and sink.stats.rows_acked == 3


async def test_rows_of_a_partition_are_handed_over_in_input_order():
    sink, producer, _, _ = make_sink()
    await sink.process([row(0, ts) for ts in range(1, 6)])
    await sink.flush()
    await sink.process([row(0, ts) for ts in range(6, 9)])
    await sink.flush()
    values = [v.decode() for _, p, batch, _ in producer.sent for _, v in batch]
    assert values == [f"t:0@{ts}" for ts in range(1, 9)]


class SmallBatch(Batch):
    """A batch that holds two records."""

    def extend(self, messages, start):  # type: ignore[override]
        taken = messages[start : start + 2 - len(self)]
        list.extend(self, taken)
        return len(taken)


async def test_a_run_larger_than_a_batch_is_sent_in_order_and_acked_only_as_a_whole():
    sink, producer, _, tracker = make_sink()
    producer.new_batch = SmallBatch
    await sink.process([row(0, ts) for ts in range(1, 6)] + [ResolvedEvent(5, position={"p": 5})])
    await sink.flush()
    assert [len(batch) for _, _, batch, _ in producer.sent] == [2, 2, 1]
    values = [v.decode() for _, _, batch, _ in producer.sent for _, v in batch]
    assert values == [f"t:0@{ts}" for ts in range(1, 6)]
    producer.ack(0)
    producer.ack(2)
    assert tracker.checkpoint_ts == 0 and sink.unacked_rows == 5  # the middle batch is not acked yet
    producer.ack(1)
    assert (tracker.checkpoint_ts, tracker.position) == (5, {"p": 5})
    assert sink.unacked_rows == 0 and sink.stats.rows_acked == 5


async def test_ddl_is_a_barrier_both_ways():
    sink, producer, sync, tracker = make_sink()
    sync.release.clear()
    task = asyncio.create_task(
        sink.process([row(1, 1), DDLEvent("s", "t", 2, "ALTER TABLE t ADD c INT"), row(1, 3), ResolvedEvent(3)])
    )
    await asyncio.sleep(0.01)
    # The earlier row is handed over, the DDL waits for its ack.
    assert producer.log == ["rows ['t:1@1']"]
    producer.ack(0)
    await asyncio.sleep(0.01)
    assert producer.log[-1] == "ddl ALTER TABLE t ADD c INT -> s.t[0]"
    # The later row is not handed over while the DDL is unacknowledged.
    await sink.flush()
    assert len(producer.sent) == 1
    sync.release.set()
    await task
    await sink.flush()
    assert producer.log[-1] == "rows ['t:1@3']"
    assert tracker.checkpoint_ts == 0
    producer.ack(1)
    assert tracker.checkpoint_ts == 3 and sink.stats.ddls_acked == 1


async def test_a_ddl_the_protocol_has_no_message_for_is_acked_without_sending():
    # debezium (ticdc encoder.go EncodeDDLEvent) returns no message for a DDL kind it has no change type for.
    sink, producer, _, tracker = make_sink()
    sink.encoder.encode_ddl = lambda event: None  # type: ignore[method-assign]
    task = asyncio.create_task(
        sink.process([row(1, 1), DDLEvent("s", "other", 2, "ANALYZE TABLE other"), row(1, 3), ResolvedEvent(3)])
    )
    await asyncio.sleep(0.01)
    producer.ack(0)
    await task
    await sink.flush()
    producer.ack(1)
    assert not any(line.startswith("ddl") for line in producer.log)
    assert tracker.checkpoint_ts == 3 and sink.stats.ddls_acked == 1
    assert "s.other" not in sink.written_topics  # no watermark goes where nothing was written


async def test_first_delivery_error_fails_the_sink_with_context_and_holds_the_checkpoint():
    sink, producer, _, tracker = make_sink()
    await sink.process([row(2, 7, table="orders"), ResolvedEvent(7)])
    await sink.flush()
    producer.ack(0, error=TimeoutError("request timed out"))
    assert sink.failed.done()
    error = sink.error
    assert isinstance(error, DeliveryError)
    text = str(error)
    for part in ("topic s.orders", "partition 0", "s.orders", "commit_ts=7", "TimeoutError"):
        assert part in text
    assert tracker.checkpoint_ts == 0
    with pytest.raises(DeliveryError):
        await sink.barrier()


async def test_unacknowledged_rows_are_bounded():
    sink, producer, _, _ = make_sink()
    sink.max_inflight = 10
    task = asyncio.create_task(sink.process([row(i, i + 1) for i in range(12)]))
    await task
    waiter = asyncio.create_task(sink.after_chunk(idle=False))
    await asyncio.sleep(0.01)
    assert not waiter.done()  # 12 > 10 unacked rows: the reader must wait
    for i in range(len(producer.sent)):
        producer.ack(i)
    await asyncio.wait_for(waiter, 1)
    assert sink.unacked_rows == 0


async def test_watermark_goes_to_every_partition_of_written_topics():
    sink, producer, sync, _ = make_sink()
    await sink.process([row(1, 1)])
    await sink.flush()
    producer.ack(0)
    await sink.broadcast_watermark(5)
    wm = sorted(line for line in producer.log if line.startswith("ddl wm5"))
    assert wm == ["ddl wm5 -> default[0]", "ddl wm5 -> default[1]", "ddl wm5 -> s.t[0]", "ddl wm5 -> s.t[1]"]


async def _simple_sink(**options):
    from cdcsink.codec.options import EncoderOptions
    from cdcsink.codec.simple.encoder import SimpleEncoder

    producer = ScriptedProducer()
    sync = ScriptedSync(producer.log)
    sink = KafkaSink(
        router=Router(), encoder=SimpleEncoder(EncoderOptions("simple", **options)), topics=Topics(),
        producer=producer, sync_producer=sync, tracker=CheckpointTracker(), default_topic="default", max_buffer_rows=1000,
    )
    return sink, producer


def _kinds(log):
    return ["bootstrap " + line.rsplit(" -> ", 1)[1] if '"BOOTSTRAP"' in line else line.split(" ", 1)[0] for line in log]


async def test_simple_bootstrap_messages_reach_every_partition_acknowledged_before_the_table_rows():
    sink, producer = await _simple_sink(send_bootstrap_in_msg_count=3)
    await sink.process([row(0, 1), row(1, 2), row(2, 3)])
    await sink.flush()
    # One bootstrap per partition of the table's topic, sent (and acked) before the first row is handed over.
    assert _kinds(producer.log) == ["bootstrap s.t[0]", "bootstrap s.t[1]", "rows", "rows"]
    # The fourth row of the table is the count's turn: the next bootstrap goes ahead of it; a new table gets its own.
    await sink.process([row(3, 4), row(0, 5, table="u")])
    await sink.flush()
    assert _kinds(producer.log)[4:] == ["bootstrap s.t[0]", "bootstrap s.t[1]", "bootstrap s.u[0]", "bootstrap s.u[1]",
                                       "rows", "rows"]


async def test_simple_bootstrap_messages_go_to_partition_0_only_when_asked():
    sink, producer = await _simple_sink(send_bootstrap_to_all_partition=False)
    await sink.process([row(0, 1), row(1, 2)])
    await sink.flush()
    assert _kinds(producer.log) == ["bootstrap s.t[0]", "rows", "rows"]


async def test_simple_bootstrap_goes_again_when_the_table_schema_changes():
    sink, producer = await _simple_sink()
    changed = RowEvent("s", "t", 2, "insert", ["id"], {"id": "int", "x": "int"}, None, {"id": 1, "x": 5})
    await sink.process([row(0, 1), changed])
    await sink.flush()
    assert _kinds(producer.log) == ["bootstrap s.t[0]", "bootstrap s.t[1]", "bootstrap s.t[0]", "bootstrap s.t[1]",
                                    "rows", "rows"]
