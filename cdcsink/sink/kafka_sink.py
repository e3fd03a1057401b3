"""The Kafka sink: routes events, buffers rows per topic-partition, hands whole
batches to the client layer, and turns batch acks into checkpoint progress.

Ordering rules it keeps:

- Rows of one partition are handed to the producer in input order, and the
  producer writes a partition's batches in hand-over order, so per-key order
  holds (a key always routes to the same partition).
- A DDL is a barrier: every earlier row is acknowledged before it is sent,
  and nothing after it is sent before it is acknowledged.
- Only ack callbacks move the checkpoint tracker; a failed batch never does,
  and the first failure stops the sink (``failed`` is set).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import structlog

from cdcsink.checkpoint.tracker import CheckpointTracker, Segment
from cdcsink.codec import Encoder, Message
from cdcsink.errors import CdcsinkError, DeliveryError, MessageTooLargeError
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from cdcsink.kafka import AsyncProducer, SyncProducer
from cdcsink.kafka.topics import TopicManager
from cdcsink.metrics import Metrics

if TYPE_CHECKING:
    from cdcsink.route.router import Router

log = structlog.get_logger("cdcsink.sink")


class PartitionBuffer:
    """Rows routed to one topic-partition, encoded, not yet handed to the producer.

    ``rows`` holds each row's encoding (the event itself is not kept; ``first``
    names the oldest one in errors). ``marks`` records, for each checkpoint
    segment the buffered rows belong to, the index of its first row, so one
    ack can release whole segments.
    """

    __slots__ = ("topic", "partition", "rows", "first", "read_at", "marks", "segment")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.rows: list[Message] = []
        self.first: RowEvent | None = None
        self.read_at = 0.0
        self.marks: list[tuple[int, Segment]] = []
        self.segment: Segment | None = None


class RouteState:
    """A table's resolved route: topic, partitioner and the topic's buffers."""

    __slots__ = ("topic", "partition", "partitions", "buffers")

    def __init__(self, topic: str, partition: Callable[[RowEvent, int], int], buffers: list[PartitionBuffer]) -> None:
        self.topic = topic
        self.partition = partition
        self.partitions = len(buffers)
        self.buffers = buffers


class InflightRun:
    """Rows handed over together; acknowledged when all of their batches are."""

    __slots__ = ("topic", "partition", "rows", "first", "marks", "batches", "sealed", "messages", "nbytes", "started", "read_at")

    def __init__(
        self, topic: str, partition: int, rows: int, first: RowEvent, marks: list[tuple[int, Segment]], read_at: float
    ) -> None:
        self.topic = topic
        self.read_at = read_at
        self.partition = partition
        self.rows = rows
        self.first = first
        self.marks = marks
        self.batches = 0
        self.sealed = False
        self.messages = 0
        self.nbytes = 0
        self.started = time.monotonic()


class SinkStats:
    """Acknowledged messages and bytes per topic and partition."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, int], int] = {}
        self.bytes: dict[tuple[str, int], int] = {}
        self.rows_acked = 0
        self.ddls_acked = 0
        self.watermarks_acked = 0

    def add(self, topic: str, partition: int, messages: int, nbytes: int) -> None:
        key = (topic, partition)
        self.messages[key] = self.messages.get(key, 0) + messages
        self.bytes[key] = self.bytes.get(key, 0) + nbytes


class KafkaSink:
    def __init__(
        self,
        *,
        router: Router,
        encoder: Encoder,
        topics: TopicManager,
        producer: AsyncProducer,
        sync_producer: SyncProducer,
        tracker: CheckpointTracker,
        default_topic: str,
        max_inflight_messages: int = 100_000,
        max_buffer_rows: int = 4096,
        metrics: Metrics | None = None,
    ) -> None:
        self.router = router
        self.encoder = encoder
        self.topics = topics
        self.producer = producer
        self.sync_producer = sync_producer
        self.tracker = tracker
        self.default_topic = default_topic
        self.max_inflight = max_inflight_messages
        self.max_buffer_rows = max_buffer_rows
        self.stats = SinkStats()
        self.metrics = metrics or Metrics()
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: Rows routed and not yet acknowledged (buffered or in flight).
        self.unacked_rows = 0
        self._routes: dict[str, dict[str, RouteState]] = {}
        self._topic_buffers: dict[str, list[PartitionBuffer]] = {}
        self._active: list[PartitionBuffer] = []
        self._waiter: asyncio.Future[None] | None = None
        #: Topics that received rows or DDL: the watermark goes to each.
        self.written_topics: set[str] = set()
        #: The encoder's table-schema messages to send ahead of rows (simple), if it has them.
        self._bootstrap = getattr(encoder, "bootstrap", None)

    # -- failure -------------------------------------------------------------

    @property
    def error(self) -> BaseException | None:
        return self.failed.exception() if self.failed.done() else None

    @property
    def buffered_rows(self) -> int:
        """Rows routed but not yet handed to the producer."""
        return sum(len(b.rows) for b in self._active)

    def fail(self, error: BaseException) -> None:
        """Record the first failure; later ones are logged only."""
        if self.failed.done():
            log.debug("further sink error after the first", error=str(error))
            return
        self.failed.set_exception(error)
        self.failed.exception()  # retrieved here so asyncio does not warn if nobody awaits it
        self._wake()

    def _raise_if_failed(self) -> None:
        if self.failed.done():
            raise self.failed.exception()  # type: ignore[misc]

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait_until(self, done: Callable[[], bool]) -> None:
        while not done():
            self._raise_if_failed()
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self._raise_if_failed()

    # -- routing -------------------------------------------------------------

    async def _route(self, schema: str, table: str) -> RouteState:
        table_route = self.router.route(schema, table)
        count = await self.topics.partitions(table_route.topic)
        buffers = self._topic_buffers.get(table_route.topic)
        if buffers is None or len(buffers) != count:
            buffers = self._topic_buffers[table_route.topic] = [
                PartitionBuffer(table_route.topic, p) for p in range(count)
            ]
        route = RouteState(table_route.topic, table_route.partition, buffers)
        self._routes.setdefault(schema, {})[table] = route
        return route

    # -- events --------------------------------------------------------------

    async def process(self, events: Sequence[RowEvent | DDLEvent | ResolvedEvent], read_at: float = 0.0) -> None:
        """Route, encode and buffer ``events`` in order; DDL and resolved events take
        effect in place. ``read_at``: when the events were read (monotonic clock)."""
        read_at = read_at or time.monotonic()
        routes = self._routes
        tracker = self.tracker
        active = self._active
        max_rows = self.max_buffer_rows
        encode_row = self.encoder.encode_row
        bootstrap = self._bootstrap
        rows = ddls = resolved = 0
        for event in events:
            if type(event) is RowEvent:
                rows += 1
                tables = routes.get(event.schema)
                route = tables.get(event.table) if tables is not None else None
                if route is None:
                    route = await self._route(event.schema, event.table)
                buffer = route.buffers[route.partition(event, route.partitions)]
                if bootstrap is not None:
                    await self._send_bootstrap(route, event)
                try:
                    encoded = encode_row(event)
                except MessageTooLargeError as error:
                    self.fail(MessageTooLargeError(f"topic {buffer.topic} partition {buffer.partition}: {error}"))
                    self._raise_if_failed()
                buffered = buffer.rows
                if not buffered:
                    active.append(buffer)
                    buffer.first = event
                    buffer.read_at = read_at
                buffered.append(encoded)
                segment = tracker.current
                if buffer.segment is not segment:
                    buffer.marks.append((len(buffered) - 1, segment))
                    buffer.segment = segment
                segment.pending += 1
                self.unacked_rows += 1
                if len(buffered) >= max_rows:
                    await self._hand_over(buffer)
            elif type(event) is ResolvedEvent:
                resolved += 1
                tracker.resolve(event.commit_ts, event.position, event.commit_time_ms, read_at=read_at)
            else:
                ddls += 1
                await self._ddl(event)  # type: ignore[arg-type]
        self.metrics.received_events(rows, ddls, resolved)

    async def after_chunk(self, idle: bool) -> None:
        """Hand over buffers the producer could send at once (all of them when
        the input is idle), then wait while too many rows are unacknowledged."""
        self._raise_if_failed()
        if self._active:
            is_idle = self.producer.is_idle
            for buffer in self._active:
                if buffer.rows and (idle or is_idle(buffer.topic, buffer.partition)):
                    await self._hand_over(buffer)
            self._active[:] = [b for b in self._active if b.rows]
        if self.unacked_rows > self.max_inflight:
            await self.flush()
            limit = self.max_inflight // 2
            await self._wait_until(lambda: self.unacked_rows <= limit)

    async def flush(self) -> None:
        """Hand every buffered row to the producer."""
        for buffer in self._active:
            if buffer.rows:
                await self._hand_over(buffer)
        # Cleared in place: process() holds a reference to this list.
        self._active.clear()

    async def barrier(self) -> None:
        """Flush, then wait until every row handed over so far is acknowledged."""
        await self.flush()
        await self._wait_until(lambda: self.unacked_rows == 0)

    # -- rows ----------------------------------------------------------------

    async def _hand_over(self, buffer: PartitionBuffer) -> None:
        rows, marks, first = buffer.rows, buffer.marks, buffer.first
        buffer.rows, buffer.marks, buffer.segment, buffer.first = [], [], None, None
        run = InflightRun(buffer.topic, buffer.partition, len(rows), first, marks, buffer.read_at)  # type: ignore[arg-type]
        messages = self.encoder.pack(rows)
        count = len(messages)
        run.messages = count
        run.nbytes = sum([len(value) for _, value in messages])
        self.metrics.batch_size.observe(count)
        new_batch = self.producer.new_batch
        batch = new_batch()
        sent = batch.extend(messages, 0)
        while sent < count:  # the batch is full: send it, go on in a new one
            await self._send(batch, run)
            batch = new_batch()
            sent += batch.extend(messages, sent)
        await self._send(batch, run)
        run.sealed = True
        if run.batches == 0:
            self._run_acked(run)

    async def _send(self, batch: Any, run: InflightRun) -> None:
        if not len(batch):
            return
        run.batches += 1

        def on_ack(error: BaseException | None) -> None:
            if error is not None:
                self._run_failed(run, error)
                return
            run.batches -= 1
            if run.batches == 0 and run.sealed:
                self._run_acked(run)

        try:
            await self.producer.send_batch(batch, run.topic, run.partition, on_ack)
        except Exception as error:
            self._run_failed(run, error)
            self._raise_if_failed()

    def _run_acked(self, run: InflightRun) -> None:
        if self.failed.done():
            return
        rows, marks, ack = run.rows, run.marks, self.tracker.ack
        for i, (start, segment) in enumerate(marks):
            end = marks[i + 1][0] if i + 1 < len(marks) else rows
            ack(segment, end - start)
        self.unacked_rows -= rows
        self.stats.rows_acked += rows
        self.stats.add(run.topic, run.partition, run.messages, run.nbytes)
        metrics = self.metrics
        metrics.row_acked.inc(rows)
        metrics.sent(run.topic, run.messages, run.nbytes)
        now = time.monotonic()
        metrics.send_latency.observe(now - run.started)
        metrics.read_to_ack.observe(now - run.read_at)
        self.written_topics.add(run.topic)
        self._wake()

    def _run_failed(self, run: InflightRun, error: BaseException) -> None:
        first = run.first
        self.metrics.send_error(run.topic, error)
        self.fail(
            DeliveryError(
                f"delivery to topic {run.topic} partition {run.partition} failed "
                f"({type(error).__name__}: {error}); first unacknowledged event "
                f"{first.describe()}, {run.rows} rows in the batch",
                error,
            )
        )
        log.error(
            "delivery failed",
            topic=run.topic,
            partition=run.partition,
            schema=first.schema,
            table=first.table,
            commit_ts=first.commit_ts,
            rows=run.rows,
            error=f"{type(error).__name__}: {error}",
        )

    # -- bootstrap, DDL and watermarks ----------------------------------------

    async def _send_bootstrap(self, route: RouteState, event: RowEvent) -> None:
        """Send the table-schema message the encoder wants ahead of ``event``, if any,
        and wait for its ack: the row, buffered after this returns, can only be sent
        behind it (TiCDC's bootstrap worker puts it ahead of the row's batch too)."""
        try:
            message = self._bootstrap(event)  # type: ignore[misc]
        except MessageTooLargeError as error:
            self.fail(MessageTooLargeError(f"topic {route.topic}: {error}"))
            self._raise_if_failed()
        if message is None:
            return
        key, value = message
        partitions = route.partitions if self.encoder.bootstrap_to_all_partitions else 1
        try:
            await self.sync_producer.send_messages(route.topic, partitions, key, value)
        except Exception as error:
            self.metrics.send_error(route.topic, error)
            self.fail(DeliveryError(
                f"bootstrap message of {event.schema}.{event.table} to topic {route.topic} failed "
                f"({type(error).__name__}: {error}); before {event.describe()}", error,
            ))
            self._raise_if_failed()
        for partition in range(partitions):
            self.stats.add(route.topic, partition, 1, len(value))
        self.metrics.sent(route.topic, partitions, len(value) * partitions)
        self.written_topics.add(route.topic)

    # -- DDL and watermarks ---------------------------------------------------

    async def _ddl(self, event: DDLEvent) -> None:
        segment = self.tracker.current
        segment.pending += 1
        started = time.monotonic()
        await self.barrier()
        topic = self.router.ddl_topic(event.schema, event.table)
        message = None
        try:
            partitions = await self.topics.partitions(topic)
            message = self.encoder.encode_ddl(event)
            if message is None:
                log.warning("DDL not sent: the protocol has no message for this kind of DDL (TiCDC skips it too)",
                            schema=event.schema, table=event.table, commit_ts=event.commit_ts, query=event.query)
            elif self.encoder.ddl_to_all_partitions:
                key, value = message
                await self.sync_producer.send_messages(topic, partitions, key, value)
                for partition in range(partitions):
                    self.stats.add(topic, partition, 1, len(value))
                self.metrics.sent(topic, partitions, len(value) * partitions)
            else:
                key, value = message
                await self.sync_producer.send_message(topic, 0, key, value)
                self.stats.add(topic, 0, 1, len(value))
                self.metrics.sent(topic, 1, len(value))
        except CdcsinkError as error:
            self.fail(type(error)(f"{event.describe()}: {error}"))
            self._raise_if_failed()
        except Exception as error:
            self.metrics.send_error(topic, error)
            self.fail(DeliveryError(f"DDL to topic {topic} failed ({type(error).__name__}: {error}); {event.describe()}", error))
            log.error(
                "DDL delivery failed",
                topic=topic,
                schema=event.schema,
                table=event.table,
                commit_ts=event.commit_ts,
                error=str(error),
            )
            self._raise_if_failed()
        if message is not None:
            self.written_topics.add(topic)
        self.stats.ddls_acked += 1
        self.metrics.ddl_acked.inc()
        self.metrics.ddl_duration.observe(time.monotonic() - started)
        self.tracker.ack(segment)

    async def broadcast_watermark(self, ts: int) -> None:
        """Send the watermark ``ts`` to every partition of every topic written so far
        (and the default topic) and wait for every ack. No-op for protocols without one."""
        message = self.encoder.encode_watermark(ts)
        if message is None:
            return
        key, value = message
        topics = sorted(self.written_topics | {self.default_topic})
        counts = [await self.topics.partitions(topic) for topic in topics]
        try:
            await asyncio.gather(
                *(self.sync_producer.send_messages(t, n, key, value) for t, n in zip(topics, counts))
            )
        except Exception as error:
            for topic in topics:
                self.metrics.send_error(topic, error)
            raise DeliveryError(f"watermark {ts} broadcast failed ({type(error).__name__}: {error})", error) from None
        for topic, n in zip(topics, counts):
            for partition in range(n):
                self.stats.add(topic, partition, 1, len(value))
            self.metrics.sent(topic, n, len(value) * n)
        self.stats.watermarks_acked += sum(counts)
