"""The pipeline: source -> decode -> route -> encode -> Kafka -> acks -> checkpoint.

:func:`run` wires the stages from :class:`Settings`, reads input until it ends
(or a stop is requested), waits for every ack, writes the final checkpoint
and closes the clients in a safe order. The first delivery error stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import structlog

from cdcsink.checkpoint.owner import Owner
from cdcsink.checkpoint.store import Checkpoint, CheckpointStore, open_store
from cdcsink.checkpoint.tracker import CheckpointTracker
from cdcsink.config import Settings
from cdcsink.decode import reason_code
from cdcsink.decode.dead_letter import DeadLetter, FileDeadLetter, open_dead_letter
from cdcsink.codec.registry import build_encoder
from cdcsink.codec.common.large import ClaimCheckStorage
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import InvalidEventError
from cdcsink.http import Readiness
from cdcsink.metrics import Metrics
from cdcsink.kafka import AdminClient, AsyncProducer, Factory, SyncProducer, new_factory
from cdcsink.kafka.options import KafkaOptions, property_value
from cdcsink.kafka.topics import TopicManager, adjust_max_message_bytes, check_default_topic_partitions
from cdcsink.route.router import Router
from cdcsink.sink.config import SinkConfig
from cdcsink.sink.kafka_sink import KafkaSink
from cdcsink.source import Source
from cdcsink.source.config import build_source

log = structlog.get_logger("cdcsink.pipeline")

_EOF = object()
SOURCE_QUEUE_CHUNKS = 8


@dataclass
class RunResult:
    checkpoint_ts: int
    position: dict[str, Any] | None
    rows: int
    ddls: int
    messages: dict[tuple[str, int], int] = field(default_factory=dict)
    watermarks: int = 0


def kafka_options(settings: Settings) -> KafkaOptions:
    sink = settings.sink
    return KafkaOptions(
        brokers=sink.brokers,
        client=sink.kafka_client,
        client_id=sink.kafka_client_id or f"cdcsink-{settings.changefeed}",
        required_acks=sink.required_acks,
        compression=sink.compression,
        max_message_bytes=sink.max_message_bytes,
        max_retry=sink.max_retry,
        dial_timeout=sink.dial_timeout,
        read_timeout=sink.read_timeout,
        write_timeout=sink.write_timeout,
        security=sink.security_options("sink"),
        client_conf={key: property_value(value) for key, value in sink.client_conf.items()},
    )


class Clients:
    """The Kafka clients of one run, closed in TiCDC's safe order."""

    def __init__(self) -> None:
        self.admin: AdminClient | None = None
        self.producer: AsyncProducer | None = None
        self.sync_producer: SyncProducer | None = None

    async def close(self) -> None:
        # DDL/checkpoint producer first, then the DML producer, then admin.
        for client in (self.sync_producer, self.producer, self.admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()


async def prepare(settings: Settings, factory: Factory, clients: Clients) -> tuple[TopicManager, EncoderOptions]:
    """Adjust options against the cluster and make sure the default topic exists."""
    sink = settings.sink
    clients.admin = admin = await factory.admin_client()
    factory.options.max_message_bytes = await adjust_max_message_bytes(admin, sink.topic, sink.max_message_bytes)
    await check_default_topic_partitions(admin, sink.topic, sink.partition_num)
    topics = TopicManager(
        admin,
        auto_create=sink.auto_create_topic,
        partition_num=sink.partition_num,
        replication_factor=sink.replication_factor,
    )
    await topics.partitions(sink.topic)
    return topics, encoder_options(sink, factory.options.max_encoded_bytes, settings.changefeed)


def encoder_options(sink: SinkConfig, max_message_bytes: int, changefeed: str = "default") -> EncoderOptions:
    """What the encoder needs from the ``sink:`` settings; ``max_message_bytes`` is
    the effective limit as the encoder counts it (see ``KafkaOptions.max_encoded_bytes``);
    the changefeed names the cluster in debezium messages."""
    return EncoderOptions(
        protocol=sink.protocol or "canal-json",
        enable_tidb_extension=sink.enable_tidb_extension,
        max_message_bytes=max_message_bytes,
        max_batch_size=sink.max_batch_size,
        large_message_handle_option=sink.large_message_handle_option,
        large_message_handle_compression=sink.large_message_handle_compression,
        claim_check_storage_uri=sink.claim_check_storage_uri,
        only_output_updated_columns=sink.only_output_updated_columns,
        delete_only_output_handle_key_columns=sink.delete_only_output_handle_key_columns,
        content_compatible=sink.content_compatible,
        send_bootstrap_interval_in_sec=sink.send_bootstrap_interval_in_sec,
        send_bootstrap_in_msg_count=sink.send_bootstrap_in_msg_count,
        send_bootstrap_to_all_partition=sink.send_bootstrap_to_all_partition,
        debezium_disable_schema=sink.debezium_disable_schema,
        debezium_output_old_value=sink.debezium_output_old_value,
        cluster_id=changefeed,
    )


class Checkpointer:
    """Moves the stored checkpoint to the tracker's: watermark first, then the store."""

    def __init__(
        self,
        tracker: CheckpointTracker,
        sink: KafkaSink,
        store: CheckpointStore,
        start: Checkpoint | None,
        metrics: Metrics,
    ):
        self.tracker = tracker
        self.sink = sink
        self.store = store
        self.metrics = metrics
        self.written_ts = start.checkpoint_ts if start else None
        #: The highest watermark sent: a watermark never goes back.
        self.broadcast_ts = self.written_ts
        self.written_position = start.position if start else None
        self.writes = 0
        self._resolved_counted = 0
        self._stop = asyncio.Event()

    async def advance(self) -> None:
        tracker = self.tracker
        ts, position, commit_time_ms, read_at = tracker.checkpoint_ts, tracker.position, tracker.commit_time_ms, tracker.read_at
        resolved_done = tracker.resolved_done
        if ts == self.written_ts and position == self.written_position:
            return
        if self.broadcast_ts is None or ts > self.broadcast_ts:
            await self.sink.broadcast_watermark(ts)
            self.broadcast_ts = ts
        checkpoint = Checkpoint(ts, position)
        if not await self.store.save(checkpoint):
            return  # not stored (a rebalance got in the way): the next advance tries again
        self.written_ts, self.written_position = ts, position
        self.metrics.checkpoint_written(commit_time_ms, read_at)
        self.writes += 1
        self.metrics.checkpoint_writes.inc()
        self.metrics.resolved_acked.inc(resolved_done - self._resolved_counted)
        self._resolved_counted = resolved_done
        log.debug("checkpoint written", checkpoint_ts=ts, position=position)

    async def run_every(self, interval: float) -> None:
        """Advance every ``interval`` until :meth:`stop`; an advance under way is never cut short."""
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), interval)
                return
            except asyncio.TimeoutError:
                await self.advance()

    def stop(self) -> None:
        self._stop.set()


async def _next_item(queue: asyncio.Queue[Any], sink: KafkaSink) -> Any:
    """The next item; when none is waiting, the sink hands over what it buffered first."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        await sink.after_chunk(idle=True)
        return await queue.get()


class Output:
    """The pipeline's side of a run as a source sees it (:class:`cdcsink.source.SourceOutput`)."""

    def __init__(self, sink: KafkaSink, tracker: CheckpointTracker, metrics: Metrics, dead_letter: DeadLetter | None) -> None:
        self.sink = sink
        self.tracker = tracker
        self.metrics = metrics
        self.dead_letter = dead_letter

    async def process(self, events: Sequence[Any], read_at: float = 0.0) -> None:
        await self.sink.process(events, read_at)

    async def after_chunk(self, idle: bool) -> None:
        await self.sink.after_chunk(idle)

    def resolve(self, position: dict[str, Any] | None) -> None:
        self.tracker.resolve(self.tracker.resolved_ts, position, is_event=False)

    def end_of_input(self, position: dict[str, Any] | None) -> None:
        self.tracker.end_of_input(position)

    @property
    def acked_position(self) -> dict[str, Any] | None:
        return self.tracker.position

    def _all_acked(self) -> bool:
        tracker = self.tracker
        return tracker.pending_segments <= 1 and not tracker.current.pending and not self.sink.unacked_rows

    async def wait_acked(self, timeout: float, busy: Callable[[], bool] = lambda: False) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while busy() or not self._all_acked():
            if loop.time() >= deadline or self.sink.failed.done():
                return False
            await asyncio.sleep(0.005)
        return True

    def count_invalid(self, error: InvalidEventError) -> None:
        self.metrics.invalid.labels(self.metrics.changefeed, reason_code(error.reason)).inc()


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        source: Source | None = None,
        store: CheckpointStore | None = None,
        metrics: Metrics | None = None,
        readiness: Readiness | None = None,
    ):
        self.settings = settings
        self.metrics = metrics or Metrics(settings.changefeed)
        self.readiness = readiness or Readiness()
        self.source = source if source is not None else build_source(settings.source, f"cdcsink-{settings.changefeed}")
        if store is None:
            store = self.source.checkpoint_store(
                lambda: open_store(settings.checkpoint.store, owner=Owner.of(settings))
            )
        self.store = store
        self.stop_requested = asyncio.Event()
        self.sink: KafkaSink | None = None
        self.tracker: CheckpointTracker | None = None
        self.checkpointer: Checkpointer | None = None
        self.dead_letter: DeadLetter | None = None

    def request_stop(self) -> None:
        """Stop reading; what was read is still delivered and checkpointed."""
        self.stop_requested.set()

    async def run(self) -> RunResult:
        settings = self.settings
        self.store.check_writable()
        if settings.sink.claim_check_storage_uri and settings.sink.large_message_handle_option == "claim-check":
            ClaimCheckStorage(settings.sink.claim_check_storage_uri).check_writable()
        start = self.source.start_from(self.store.load(), self.store.description)
        factory = new_factory(kafka_options(settings))
        clients = Clients()
        try:
            topics, encoder_options = await prepare(settings, factory, clients)
            for topic in topics.topics:  # the default topic
                self.metrics.topic_known(topic)
            topics.on_new_topic = self.metrics.topic_known
            large, changefeed = self.metrics.large_messages, self.metrics.changefeed
            encoder = build_encoder(
                replace(encoder_options, on_large_message=lambda handling: large.labels(changefeed, handling).inc())
            )
            router = Router(settings.sink.dispatchers, settings.sink.topic)
            clients.producer = await factory.async_producer()
            clients.sync_producer = await factory.sync_producer()
            tracker = self.tracker = CheckpointTracker(start.checkpoint_ts if start else 0, start.position if start else None)
            sink = self.sink = KafkaSink(
                router=router,
                encoder=encoder,
                topics=topics,
                producer=clients.producer,
                sync_producer=clients.sync_producer,
                tracker=tracker,
                default_topic=settings.sink.topic,
                max_inflight_messages=settings.sink.max_inflight_messages,
                metrics=self.metrics,
            )
            if settings.source.on_invalid == "dead-letter":
                self.dead_letter = open_dead_letter(
                    settings.source.dead_letter, settings.sink.topic, clients.sync_producer, topics
                )
                if isinstance(self.dead_letter, FileDeadLetter):
                    self.dead_letter.check_writable()
            checkpointer = self.checkpointer = Checkpointer(tracker, sink, self.store, start, self.metrics)
            self._observe(sink, tracker, checkpointer, clients)
            assert clients.admin is not None
            self.readiness.set(True)
            out = Output(sink, tracker, self.metrics, self.dead_letter)
            watcher = asyncio.create_task(self._watch_kafka(clients.admin, settings.sink.topic), name="ready-check")
            try:
                return await self._run(sink, tracker, checkpointer, out, start)
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        finally:
            self.readiness.set(False, "pipeline stopped")
            with contextlib.suppress(Exception):
                await self.source.close()
            await clients.close()

    def _observe(self, sink: KafkaSink, tracker: CheckpointTracker, checkpointer: Checkpointer, clients: Clients) -> None:
        m = self.metrics
        m.observe("cdcsink_checkpoint_ts", lambda: checkpointer.written_ts or 0)
        m.observe("cdcsink_resolved_ts", lambda: tracker.resolved_ts)
        m.observe("cdcsink_inflight_messages", lambda: sink.unacked_rows)
        m.observe("cdcsink_pipeline_queue_depth", lambda: sink.buffered_rows, stage="buffer")
        producer = clients.producer
        m.observe("cdcsink_producer_inflight_requests", lambda: producer.inflight_requests() if producer else 0)
        m.watch_kafka_client(producer)

    async def _watch_kafka(self, admin: AdminClient, topic: str) -> None:
        """Keep /readyz honest while the pipeline is idle: Kafka must answer."""
        interval = self.settings.ready_check_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(admin.partition_count(topic), max(interval, 1.0) * 2)
            except Exception as error:
                self.readiness.set(False, f"kafka unreachable: {type(error).__name__}: {error}".strip(": "))
            else:
                self.readiness.set(True)

    async def _run(
        self,
        sink: KafkaSink,
        tracker: CheckpointTracker,
        checkpointer: Checkpointer,
        out: Output,
        start: Checkpoint | None,
    ) -> RunResult:
        queue: asyncio.Queue[Any] = asyncio.Queue(SOURCE_QUEUE_CHUNKS)
        self.metrics.observe("cdcsink_pipeline_queue_depth", queue.qsize, stage="source")
        reader = asyncio.create_task(self._read(queue, start, out), name="source")
        ticker = asyncio.create_task(checkpointer.run_every(self.settings.checkpoint.interval), name="checkpoint")
        consumer = asyncio.create_task(self._consume(queue, sink, out), name="pipeline")
        stopper = asyncio.create_task(self.stop_requested.wait(), name="stop")
        try:
            waiting: set[asyncio.Future[Any]] = {consumer, sink.failed, ticker, reader, stopper}
            while consumer in waiting:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                waiting -= done
                if sink.failed in done or ticker in done:
                    break
                if reader in done and not reader.cancelled() and reader.exception() is not None:
                    break
                if stopper in done:
                    # Chunks read but not yet processed are dropped: they are not
                    # in the checkpoint, so the next run reads them again.
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                    waiting.discard(reader)
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(_EOF)
            for task in (sink.failed, ticker, reader, consumer):
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if not consumer.done():
                raise RuntimeError("pipeline stopped without a result")
            invalid = consumer.result()
            checkpointer.stop()
            await ticker
            await checkpointer.advance()
            if invalid is not None:
                raise invalid
            return RunResult(
                checkpoint_ts=tracker.checkpoint_ts,
                position=tracker.position,
                rows=sink.stats.rows_acked,
                ddls=sink.stats.ddls_acked,
                messages=dict(sink.stats.messages),
                watermarks=sink.stats.watermarks_acked,
            )
        finally:
            for task in (reader, ticker, consumer, stopper):
                task.cancel()
            await asyncio.gather(reader, ticker, consumer, stopper, return_exceptions=True)

    async def _read(self, queue: asyncio.Queue[Any], start: Checkpoint | None, out: Output) -> None:
        async for item in self.source.read(start, out):
            await queue.put(item)
        await queue.put(_EOF)

    async def _consume(self, queue: asyncio.Queue[Any], sink: KafkaSink, out: Output) -> InvalidEventError | None:
        """Hand items to the source until the end of input; returns the invalid event that stopped it, if any."""
        source = self.source
        invalid: InvalidEventError | None = None
        while True:
            item = await _next_item(queue, sink)
            if item is _EOF:
                break
            invalid = await source.take(item, out)
            if invalid is not None:
                break
            await sink.after_chunk(idle=False)
            await asyncio.sleep(0)
        await source.finish(out, stopped=invalid is not None or self.stop_requested.is_set())
        await sink.barrier()
        return invalid
