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
from typing import Any, Callable

import structlog

from cdcsink.checkpoint.owner import Owner
from cdcsink.checkpoint.store import Checkpoint, CheckpointStore, open_store
from cdcsink.checkpoint.tracker import CheckpointTracker
from cdcsink.config import Settings
from cdcsink.decode import Decoder, chunk_after, decode_chunk, decode_records, position_before, reason_code
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
from cdcsink.source import Chunk, Source
from cdcsink.source.config import build_source
from cdcsink.source.kafka import ConsumerGroupStore, InputPartition, KafkaChunk, KafkaSource
from cdcsink.source.merge import PartitionMerger
from cdcsink.source.stdin import StdinSource

log = structlog.get_logger("cdcsink.pipeline")

_EOF = None
#: Put in the source queue to have the consume loop settle the merger (no records with it).
_SETTLE = object()
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
    return topics, encoder_options(sink, factory.options.max_encoded_bytes)


def encoder_options(sink: SinkConfig, max_message_bytes: int) -> EncoderOptions:
    """What the encoder needs from the ``sink:`` settings; ``max_message_bytes`` is
    the effective limit as the encoder counts it (see ``KafkaOptions.max_encoded_bytes``)."""
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
        on_stored: Callable[[Checkpoint], None] | None = None,
    ):
        self.tracker = tracker
        self.sink = sink
        self.store = store
        self.metrics = metrics
        #: Told each checkpoint once it is stored (a source that keeps unacknowledged input).
        self.on_stored = on_stored
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
        if getattr(self.store, "is_async", False):
            if await self.store.save(checkpoint) is False:  # type: ignore[func-returns-value]
                return  # not stored (a rebalance got in the way): the next advance tries again
        else:
            await asyncio.to_thread(self.store.save, checkpoint)
        self.written_ts, self.written_position = ts, position
        self.metrics.checkpoint_written(commit_time_ms, read_at)
        if self.on_stored is not None:
            self.on_stored(checkpoint)
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


async def _next_chunk(queue: asyncio.Queue[Chunk | None], sink: KafkaSink) -> Chunk | None:
    """The next chunk; when none is waiting, the sink hands over what it buffered first."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        await sink.after_chunk(idle=True)
        return await queue.get()


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
            if isinstance(self.source, KafkaSource):
                store = ConsumerGroupStore(self.source)
            else:
                store = open_store(settings.checkpoint.store, owner=Owner.of(settings))
        self.store = store
        self.merger: PartitionMerger | None = None
        #: True while a chunk is between the merger and its cut (a revoke must wait for it).
        self._in_chunk = False
        self.stop_requested = asyncio.Event()
        self.sink: KafkaSink | None = None
        self.tracker: CheckpointTracker | None = None
        self.checkpointer: Checkpointer | None = None
        self.dead_letter: DeadLetter | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._read_backs: set[asyncio.Task[None]] = set()

    def request_stop(self) -> None:
        """Stop reading; what was read is still delivered and checkpointed."""
        self.stop_requested.set()

    async def run(self) -> RunResult:
        settings = self.settings
        self.store.check_writable()
        if settings.sink.claim_check_storage_uri and settings.sink.large_message_handle_option == "claim-check":
            ClaimCheckStorage(settings.sink.claim_check_storage_uri).check_writable()
        start = self._start_from(self.store.load())
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
            on_stored = self.source.stored_checkpoint if isinstance(self.source, StdinSource) else None
            checkpointer = self.checkpointer = Checkpointer(tracker, sink, self.store, start, self.metrics, on_stored)
            self._observe(sink, tracker, checkpointer, clients)
            assert clients.admin is not None
            self.readiness.set(True)
            if isinstance(self.source, KafkaSource):
                source = self.source
                self.merger = PartitionMerger(
                    pause=source.pause, resume=source.resume, covers_all=source.owns_all_partitions
                )
                source.handler = self
                self.metrics.watch_source(source, self.merger)
            resumable = start is not None and start.position is not None
            decoder = Decoder(start.checkpoint_ts if resumable and start else 0)
            position = start.position if resumable and start else None
            watcher = asyncio.create_task(self._watch_kafka(clients.admin, settings.sink.topic), name="ready-check")
            try:
                return await self._run(sink, tracker, checkpointer, decoder, position)
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        finally:
            self.readiness.set(False, "pipeline stopped")
            close_source = getattr(self.source, "close", None)
            if close_source is not None:
                with contextlib.suppress(Exception):
                    await close_source()
            await clients.close()

    def _start_from(self, stored: Checkpoint | None) -> Checkpoint | None:
        """Where this run starts: the stored checkpoint, except for a pipe, which only
        this process can replay (from the lines it kept since its last stored checkpoint)."""
        description = getattr(self.store, "description", "")
        pipe = self.source
        if not isinstance(pipe, StdinSource):
            if stored is not None:
                log.info("resuming from checkpoint", checkpoint_ts=stored.checkpoint_ts, position=stored.position,
                         store=description)
            elif not getattr(self.store, "is_async", False):
                log.info("no checkpoint yet: reading the input from its start", store=description)
            return stored
        own = pipe.stored
        if own is not None:
            log.info("replaying the pipe from the checkpoint (its later lines were kept in memory)",
                     checkpoint_ts=own.checkpoint_ts, position=own.position)
        elif not pipe.started:
            if stored is not None:
                log.info("a pipe cannot be resumed: the stored checkpoint of an earlier run is not used; "
                         "reading this pipe from its start",
                         stored_checkpoint_ts=stored.checkpoint_ts, stored_position=stored.position, store=description)
            else:
                log.info("no checkpoint yet: reading the pipe from its start", store=description)
        return own

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
        decoder: Decoder,
        position: dict[str, Any] | None,
    ) -> RunResult:
        queue: asyncio.Queue[Chunk | None] = asyncio.Queue(SOURCE_QUEUE_CHUNKS)
        self._queue = queue
        self.metrics.observe("cdcsink_pipeline_queue_depth", queue.qsize, stage="source")
        reader = asyncio.create_task(self._read(queue, position), name="source")
        ticker = asyncio.create_task(checkpointer.run_every(self.settings.checkpoint.interval), name="checkpoint")
        if isinstance(self.source, KafkaSource):
            consume = self._consume_partitions(queue, sink, tracker, decoder)
        else:
            consume = self._consume(queue, sink, tracker, decoder)
        consumer = asyncio.create_task(consume, name="pipeline")
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
            for task in (reader, ticker, consumer, stopper, *self._read_backs):
                task.cancel()
            await asyncio.gather(reader, ticker, consumer, stopper, *self._read_backs, return_exceptions=True)

    async def _read(self, queue: asyncio.Queue[Chunk | None], position: dict[str, Any] | None) -> None:
        async for chunk in self.source.chunks(position):
            chunk.read_at = time.monotonic()
            await queue.put(chunk)
        await queue.put(_EOF)

    async def _consume(
        self, queue: asyncio.Queue[Chunk | None], sink: KafkaSink, tracker: CheckpointTracker, decoder: Decoder
    ) -> InvalidEventError | None:
        """Process chunks until the end of input; returns the invalid event that stopped it, if any."""
        invalid: InvalidEventError | None = None
        #: The last chunk processed and how many of its lines were (all, or those before an
        #: invalid one): where a stopped run's position moves once everything is acked.
        last: Chunk | None = None
        last_lines = 0
        #: A pipe is kept in memory until the checkpoint covers it: let the checkpoint move with every chunk.
        cut_every_chunk = isinstance(self.source, StdinSource)
        while True:
            chunk = await _next_chunk(queue, sink)
            if chunk is _EOF:
                break
            events, invalid = decode_chunk(decoder, chunk)
            await sink.process(events, chunk.read_at)
            while invalid is not None:
                self.metrics.invalid.labels(self.metrics.changefeed, reason_code(invalid.reason)).inc()
                if self.dead_letter is None:
                    break
                # Set aside before moving past it: the checkpoint never skips a line.
                await self.dead_letter.put(invalid)
                log.warning(
                    "invalid input event set aside",
                    origin=invalid.origin,
                    reason=invalid.reason,
                    dead_letter=self.dead_letter.description,
                )
                chunk = chunk_after(chunk, invalid.index or 0)
                events, invalid = decode_chunk(decoder, chunk)
                await sink.process(events, chunk.read_at)
            if invalid is not None:
                log.error("invalid input event; stopping", origin=invalid.origin, reason=invalid.reason)
                last, last_lines = chunk, invalid.index or 0
                break
            last, last_lines = chunk, len(chunk.lines)
            if cut_every_chunk:
                # A cut at the chunk's end: once its events are acknowledged the checkpoint
                # covers it, so a source replaying from memory can let it go.
                tracker.resolve(tracker.resolved_ts, position_before(chunk, last_lines), is_event=False)
            await sink.after_chunk(idle=False)
            await asyncio.sleep(0)
        if invalid is None and not self.stop_requested.is_set():
            tracker.end_of_input(self.source.end_position())
        elif last is not None:
            # Stopped by a signal or an invalid line: what was processed is delivered
            # once acked, so the position moves past it (never past the invalid line)
            # and a restart sends none of it again. The ts stays at the last resolved.
            tracker.end_of_input(position_before(last, last_lines))
        await sink.barrier()
        return invalid

    # -- partitioned input (Kafka) -------------------------------------------------

    async def _consume_partitions(
        self,
        queue: asyncio.Queue[Chunk | None],
        sink: KafkaSink,
        tracker: CheckpointTracker,
        decoder: Decoder,
    ) -> InvalidEventError | None:
        """Process record runs of many input partitions through the merger. Each run
        ends in a cut: a tracker segment whose position is the merger's offsets."""
        merger = self.merger
        assert merger is not None
        invalid: InvalidEventError | None = None
        while invalid is None:
            chunk = await _next_chunk(queue, sink)
            if chunk is _EOF:
                break
            if chunk is _SETTLE:
                self._in_chunk = True
                try:
                    settled: list[Any] = []
                    merger.settle(settled)
                    await sink.process(settled)
                    tracker.resolve(tracker.resolved_ts, merger.snapshot(), is_event=False)
                finally:
                    self._in_chunk = False
                continue
            assert isinstance(chunk, KafkaChunk)
            part = merger.parts.get(chunk.input)
            if part is None or part.epoch != chunk.epoch:
                continue  # read before its partition was revoked: the next owner reads it again
            self._in_chunk = True
            try:
                decoder.last_resolved_ts = part.decode_resolved
                events: list[Any] = []
                end = chunk.end_offset
                start = 0
                while True:
                    decoded, invalid = decode_records(decoder, chunk, start)
                    events.extend(decoded)
                    if invalid is None:
                        break
                    self.metrics.invalid.labels(self.metrics.changefeed, reason_code(invalid.reason)).inc()
                    if self.dead_letter is None:
                        end = chunk.offsets[invalid.index or 0]  # the offset never passes it
                        log.error("invalid input event; stopping", origin=invalid.origin, reason=invalid.reason)
                        break
                    await self.dead_letter.put(invalid)
                    log.warning("invalid input event set aside", origin=invalid.origin, reason=invalid.reason,
                                dead_letter=self.dead_letter.description)
                    start = (invalid.index or 0) + 1
                    invalid = None
                part.decode_resolved = decoder.last_resolved_ts
                if merger.parts.get(chunk.input) is part:
                    await sink.process(merger.feed(chunk.input, events, end), chunk.read_at)
                if merger.pending_release:
                    merger.pending_release = False
                    released: list[Any] = []
                    merger.release(released)
                    await sink.process(released, chunk.read_at)
                tracker.resolve(tracker.resolved_ts, merger.snapshot(), is_event=False)
            finally:
                self._in_chunk = False
            await sink.after_chunk(idle=False)
            await asyncio.sleep(0)
        await sink.barrier()
        return invalid

    async def partitions_revoked(self, partitions: set[InputPartition]) -> None:
        """Stop taking the partitions' records, wait (bounded by source.revoke-timeout)
        until what was taken is acknowledged, and commit it before they are released."""
        merger, tracker, sink = self.merger, self.tracker, self.sink
        if merger is None or tracker is None or sink is None:
            return
        merger.revoke(partitions)
        merger.pending_release = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.source.revoke_timeout
        while self._in_chunk or tracker.pending_segments > 1 or tracker.current.pending or sink.unacked_rows:
            if loop.time() >= deadline or sink.failed.done():
                log.warning(
                    "revoke-timeout passed before every event of the revoked partitions was acknowledged; "
                    "the next owner replays from the last commit",
                    revoke_timeout_s=self.settings.source.revoke_timeout,
                    unacked_rows=sink.unacked_rows,
                )
                break
            await asyncio.sleep(0.005)
        position = tracker.position or {}
        settled = {key: position[key] for key in partitions if key in position}
        if settled:
            assert isinstance(self.source, KafkaSource)
            await self.source.commit(settled)
        merger.forget(partitions)

    def partitions_assigned(self, partitions: set[InputPartition], epoch: int) -> None:
        if self.merger is not None:
            self.merger.assign(partitions, epoch)
            task = asyncio.get_running_loop().create_task(self._read_back_resolved(partitions, epoch))
            self._read_backs.add(task)
            task.add_done_callback(self._read_backs.discard)

    async def _read_back_resolved(self, partitions: set[InputPartition], epoch: int) -> None:
        """Give newly assigned partitions the resolved ts they had at their committed
        offsets, so a DDL or the watermark need not wait for their next resolved event."""
        assert isinstance(self.source, KafkaSource) and self.merger is not None
        try:
            found = await self.source.last_resolved(partitions)
        except Exception as error:
            log.warning("reading back the assigned partitions' last resolved events failed; "
                        "each resolves with its next one", error=f"{type(error).__name__}: {error}")
            return
        if self.merger.seed(found, epoch) and self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):  # a full queue is read soon anyway
                self._queue.put_nowait(_SETTLE)
