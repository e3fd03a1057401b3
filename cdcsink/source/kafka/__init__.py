"""The ``kafka`` source: an upstream topic read in a consumer group.

Each record value is one event in the NDJSON event format. Records arrive as
:class:`KafkaChunk` runs of one input partition, in offset order. The group's
committed offsets are the checkpoint: the pipeline commits an input
partition's offset only once every earlier event of it is acknowledged (see
:class:`cdcsink.source.kafka.merge.PartitionMerger`), so a restart or a new owner
after a rebalance resumes there: replays possible, skips never.

Rebalances call back into the run's intake (:class:`RebalanceHandler`,
:mod:`cdcsink.source.kafka.rebalance`): on a revoke it stops taking the
partitions' records, waits (bounded by ``revoke-timeout``) for what was taken
to be acknowledged, and commits before the partitions are released.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Callable, Protocol

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError, KafkaError
from aiokafka.structs import TopicPartition

from cdcsink.checkpoint.store import Checkpoint, CheckpointStore
from cdcsink.decode import Decoder
from cdcsink.decode.messages import NDJSON, MessageReader
from cdcsink.errors import InvalidEventError
from cdcsink.events import ResolvedEvent
from cdcsink.kafka.aiokafka_client import security_kwargs, unreachable
from cdcsink.source import Chunk, SourceOutput
from cdcsink.source.config import SourceConfig
from cdcsink.source.kafka.merge import Offsets
from cdcsink.source.kafka.rebalance import SETTLE, PartitionIntake, Settle
from cdcsink.source.kafka.store import ConsumerGroupStore

log = structlog.get_logger("cdcsink.source.kafka")

#: Records handed over at most per fetch (all partitions together).
MAX_RECORDS = 2000
FETCH_WAIT_MS = 100
#: On assignment, records read back before a partition's committed offset to find
#: its last resolved event (an upstream sends one every few hundred records or more often).
READ_BACK = 5000
READ_BACK_WAIT_MS = 1000
#: Records read back at most per partition for a table schema rows need (simple protocol).
SCHEMA_READ_BACK = 200_000

#: (topic, partition): the form input partitions take outside this module.
InputPartition = tuple[str, int]


class KafkaChunk(Chunk):
    """Records of one input partition. ``lines`` are the values, ``keys`` their keys;
    ``offsets`` their offsets (not always consecutive); ``epoch`` the assignment
    they were read in; ``reader`` decodes them when ``source.format`` is a CDC
    protocol (None: cdcsink's NDJSON events)."""

    __slots__ = ("input", "offsets", "epoch", "keys", "reader")

    def __init__(
        self, topic: str, partition: int, values: list[bytes], offsets: list[int], epoch: int,
        keys: list[bytes | None] | None = None, reader: MessageReader | None = None,
    ) -> None:
        super().__init__(f"{topic}[{partition}]", values, offsets[0], offsets[0], offsets[-1] + 1)
        self.input: InputPartition = (topic, partition)
        self.offsets = offsets
        self.epoch = epoch
        self.keys = keys if keys is not None else [None] * len(values)
        self.reader = reader


class RebalanceHandler(Protocol):
    async def partitions_revoked(self, partitions: set[InputPartition]) -> None:
        """Called before ``partitions`` are released: settle and commit them."""
        ...

    def partitions_assigned(self, partitions: set[InputPartition], epoch: int) -> None:
        """``partitions`` are ours from now on (records come from their committed offsets)."""
        ...


class _Listener(ConsumerRebalanceListener):
    def __init__(self, source: "KafkaSource") -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.source._revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.source._assigned({(tp.topic, tp.partition) for tp in assigned})


class KafkaSource:
    """Reads input partitions in a consumer group; commits only what it is told to."""

    commits_offsets = True

    def __init__(self, config: SourceConfig, client_id: str = "cdcsink") -> None:
        self.config = config
        self.client_id = client_id
        what = ",".join(config.topics) if config.topics else f"/{config.topic_pattern}/"
        self.description = f"kafka:{what} group {config.group}"
        self.handler: RebalanceHandler | None = None
        #: The current run's intake (the merger and the rebalance handling).
        self.intake: PartitionIntake | None = None
        self.consumer: AIOKafkaConsumer | None = None
        #: Bumped on every assignment: chunks of an older epoch belong to a revoked assignment.
        self.epoch = 0
        self.assigned: set[InputPartition] = set()
        self.committed: dict[InputPartition, int] = {}
        self.rebalances = 0
        self._paused: set[InputPartition] = set()
        self._withholding = False
        self._read_back_reader: MessageReader | None = None
        #: Decodes the records of a CDC protocol (``source.format``); None for NDJSON events.
        self.reader = (
            MessageReader(config.format, config.large_message_handle_compression) if config.format != NDJSON else None
        )
        #: Held by one commit at a time: checkpoint commits and a revoke's commit never interleave.
        self._commit_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: SourceConfig, client_id: str = "cdcsink") -> "KafkaSource":
        return cls(config, client_id)

    # -- source --------------------------------------------------------------------

    def checkpoint_store(self, configured: Callable[[], CheckpointStore]) -> CheckpointStore:
        """The group's committed offsets; ``checkpoint.store`` is not used."""
        return ConsumerGroupStore(self)

    def start_from(self, stored: Checkpoint | None, store: str) -> Checkpoint | None:
        return stored  # nothing: the consumer starts from the committed offsets by itself

    async def read(self, start: Checkpoint | None, out: SourceOutput) -> AsyncIterator[KafkaChunk | Settle]:
        """Record runs per input partition, and :data:`SETTLE` when a read-back asks for it."""
        intake = self.intake = PartitionIntake(self, out)
        self.handler = intake
        out.metrics.watch_source(self, intake.merger)
        async for chunk in self.chunks(None):
            if intake.settle_wanted:
                intake.settle_wanted = False
                yield SETTLE
            if chunk is not None:
                chunk.read_at = time.monotonic()
                yield chunk

    async def take(self, item: KafkaChunk | Settle, out: SourceOutput) -> InvalidEventError | None:
        assert self.intake is not None
        return await self.intake.take(item, out)

    async def finish(self, out: SourceOutput, stopped: bool) -> None:
        """Nothing to place: each record run ended in a cut at the merger's offsets."""

    # -- consumer --------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        session_ms = int(config.session_timeout * 1000)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=config.bootstrap,
            client_id=self.client_id,
            group_id=config.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, session_ms // 3),
            # A member settling a revoke must not be thrown out for being slow to rejoin.
            rebalance_timeout_ms=int((config.revoke_timeout + config.session_timeout) * 1000),
            max_poll_records=MAX_RECORDS,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            **security_kwargs(config.security_options("source")),
        )
        try:
            await consumer.start()
        except KafkaConnectionError:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise await unreachable(config.bootstrap, "kafka source") from None
        self.consumer = consumer
        listener = _Listener(self)
        if config.topics:
            consumer.subscribe(topics=config.topics, listener=listener)
        else:
            consumer.subscribe(pattern=config.topic_pattern, listener=listener)
        log.info("kafka source started", group=config.group, topics=config.topics or None, topic_pattern=config.topic_pattern)

    async def last_resolved(self, partitions: set[InputPartition]) -> dict[InputPartition, tuple[int, int | None]]:
        """Per partition, the last resolved event before its committed offset (within
        :data:`READ_BACK` records): its commit ts and commit time. A resolved event
        speaks for everything after it in its partition, so this is the partition's
        resolved ts until it sends a new one. Read with a separate, group-less consumer."""
        consumer = self.consumer
        if consumer is None or not partitions:
            return {}
        ends: dict[TopicPartition, int] = {}
        for topic, partition in partitions:
            tp = TopicPartition(topic, partition)
            committed = await consumer.committed(tp)
            if committed:
                ends[tp] = committed
        if not ends:
            return {}
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.config.bootstrap,
            client_id=f"{self.client_id}-read-back",
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a window reaching past the log start starts there
            **security_kwargs(self.config.security_options("source")),
        )
        await reader.start()
        found: dict[InputPartition, tuple[int, int | None]] = {}
        try:
            reader.assign(list(ends))
            for tp, end in ends.items():
                reader.seek(tp, max(0, end - READ_BACK))
            pending = set(ends)
            while pending:
                batches = await reader.getmany(*pending, timeout_ms=READ_BACK_WAIT_MS)
                if not batches:
                    break  # nothing more to read (the log may end short of the commit)
                for tp, records in batches.items():
                    end = ends[tp]
                    for record in records:
                        if record.offset >= end:
                            break
                        resolved = self._resolved_of(record.key, record.value)
                        if resolved is not None:
                            found[(tp.topic, tp.partition)] = resolved
                    if not records or records[-1].offset >= end - 1:
                        pending.discard(tp)
        finally:
            await reader.stop()
        return found

    def _resolved_of(self, key: bytes | None, value: bytes | None) -> tuple[int, int | None] | None:
        if self.reader is None:
            return _ndjson_resolved_of(value)
        if self._read_back_reader is None:
            self._read_back_reader = self.reader.fresh()
        return self._read_back_reader.resolved_of(key, value)

    async def _read_back_schemas(self, tp: TopicPartition, before: int, missing: set[Any]) -> None:
        """Find the table schemas the rows at ``before`` need (see :func:`read_back_table_schemas`)."""
        assert self.reader is not None and self.consumer is not None
        searcher = AIOKafkaConsumer(
            bootstrap_servers=self.config.bootstrap,
            client_id=f"{self.client_id}-read-back",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **security_kwargs(self.config.security_options("source")),
        )
        await searcher.start()
        try:
            await read_back_table_schemas(searcher, self.reader, tp, before, missing)
        finally:
            await searcher.stop()

    async def close(self) -> None:
        if self.intake is not None:
            await self.intake.close()
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()

    def end_position(self) -> dict[str, Any] | None:
        return None

    async def chunks(self, position: dict[str, Any] | None) -> AsyncIterator[KafkaChunk | None]:
        """Record runs per input partition, for as long as the source runs (Kafka input does not end);
        None after a fetch that brought nothing. ``position`` is ignored: the group's committed
        offsets say where to start."""
        if self.consumer is None:
            await self.start()
        consumer = self.consumer
        assert consumer is not None
        while True:
            batches = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=MAX_RECORDS)
            if not batches:
                yield None
            epoch = self.epoch
            for tp, records in batches.items():
                if not records:
                    continue
                key = (tp.topic, tp.partition)
                if key not in self.assigned:
                    continue
                values = [r.value for r in records]
                reader = self.reader
                if reader is not None and reader.needs_context:
                    missing = reader.missing_schemas(values)
                    if missing:
                        await self._read_back_schemas(tp, records[0].offset, missing)
                yield KafkaChunk(tp.topic, tp.partition, values, [r.offset for r in records], epoch,
                                 [r.key for r in records], reader)

    # -- flow control and commits -------------------------------------------------

    def pause(self, partition: InputPartition) -> None:
        """Stop fetching ``partition`` (its events are held back, e.g. behind a DDL)."""
        if self.consumer is not None and partition not in self._paused:
            self._paused.add(partition)
            self.consumer.pause(TopicPartition(*partition))

    def resume(self, partition: InputPartition) -> None:
        if self.consumer is not None and partition in self._paused:
            self._paused.discard(partition)
            if partition in self.assigned:
                self.consumer.resume(TopicPartition(*partition))

    async def commit(self, offsets: dict[InputPartition, int]) -> bool:
        """Commit ``offsets`` (next offset to read, per input partition) for the partitions
        still assigned. False when a rebalance got in the way (the next commit retries).

        A committed offset never goes back. A checkpoint's position can be taken before
        a rebalance and reach here after the revoke committed a later one: committed
        then, the group's offset would move back, and whoever reads the partition next
        (this instance too) would send its events again. So commits go one at a time,
        an offset below what this assignment committed is left out, and so is a
        position of an earlier assignment (:class:`Offsets`; plain offsets count as
        the current assignment's): the revoke that ended it committed as far."""
        async with self._commit_lock:
            consumer = self.consumer
            epoch = getattr(offsets, "epoch", self.epoch)
            if epoch != self.epoch:
                log.debug("offsets of an earlier assignment not committed", epoch=epoch,
                          current_epoch=self.epoch, offsets=_describe(offsets))
                return True
            committed = self.committed
            wanted = {p: o for p, o in offsets.items() if p in self.assigned and o > committed.get(p, -1)}
            if consumer is None or not wanted:
                return True
            try:
                await consumer.commit({TopicPartition(*p): o for p, o in wanted.items()})
            except (CommitFailedError, IllegalStateError) as error:
                log.warning("offset commit skipped: the group is rebalancing", error=str(error), offsets=_describe(wanted))
                return False
            committed.update(wanted)
            log.debug("offsets committed", offsets=_describe(wanted))
            return True

    def owns_all_partitions(self) -> bool:
        """Whether every partition of the input topics is assigned here. Only then may a
        watermark be sent: the resolved ts of partitions other instances read is unknown."""
        consumer = self.consumer
        if consumer is None or not self.assigned:
            return False
        for topic in consumer.subscription():
            partitions = consumer.partitions_for_topic(topic) or set()
            if any((topic, p) not in self.assigned for p in partitions):
                if not self._withholding:
                    self._withholding = True
                    log.info("watermarks withheld while other instances share the input partitions",
                             assigned=_names(self.assigned))
                return False
        self._withholding = False
        return True

    def lag(self, partition: InputPartition) -> float:
        """Records in ``partition`` after the committed offset (the log end as last fetched)."""
        consumer = self.consumer
        if consumer is None or partition not in self.assigned:
            return 0.0
        end = consumer.highwater(TopicPartition(*partition))
        if end is None:
            return 0.0
        return float(max(0, end - self.committed.get(partition, 0)))

    # -- rebalance ----------------------------------------------------------------

    async def _revoked(self, partitions: set[InputPartition]) -> None:
        if not partitions:
            return
        self.rebalances += 1
        log.info("input partitions revoked; settling them", partitions=_names(partitions))
        try:
            if self.handler is not None:
                await self.handler.partitions_revoked(partitions)
        except KafkaError as error:
            log.warning("settling revoked partitions failed; the next owner replays from the last commit", error=str(error))
        finally:
            self.assigned -= partitions
            for partition in partitions:
                self.committed.pop(partition, None)
                self._paused.discard(partition)

    def _assigned(self, partitions: set[InputPartition]) -> None:
        self.epoch += 1
        self.assigned = set(partitions)
        log.info("input partitions assigned", partitions=_names(partitions), epoch=self.epoch)
        if self.handler is not None:
            self.handler.partitions_assigned(set(partitions), self.epoch)


async def read_back_table_schemas(
    searcher: AIOKafkaConsumer, reader: MessageReader, tp: TopicPartition, before: int, missing: set[Any]
) -> set[Any]:
    """Find table schemas rows at ``tp`` offset ``before`` need and ``reader`` has not
    seen (the simple protocol announces them in bootstrap and DDL messages, which a
    restart, a new owner or a read from the middle may have passed): read the
    partition back from ``before``, then partition 0 of the topic from its end
    (where they go with send-bootstrap-to-all-partition=false), in windows of
    :data:`READ_BACK` records, at most :data:`SCHEMA_READ_BACK` each, with
    ``searcher``, a started consumer of no group. Returns what is still missing:
    rows that need it are invalid input."""
    places = [(tp, before)]
    if tp.partition != 0:
        zero = TopicPartition(tp.topic, 0)
        places.append((zero, (await searcher.end_offsets([zero])).get(zero, 0)))
    for place, end in places:
        if not missing:
            break
        start = (await searcher.beginning_offsets([place])).get(place, 0)
        low = end
        while missing and low > start and end - low < SCHEMA_READ_BACK:
            high, low = low, max(start, low - READ_BACK)
            # (assigned only while read: a partition left assigned and unread slows the consumer's stop)
            searcher.assign([place])
            searcher.seek(place, low)
            position = low
            while position < high:
                records = (await searcher.getmany(place, timeout_ms=READ_BACK_WAIT_MS)).get(place, [])
                if not records:
                    break
                for record in records:
                    if record.offset >= high:
                        break
                    reader.learn(record.value)
                position = records[-1].offset + 1
            searcher.unsubscribe()
            missing = {key for key in missing if not reader.known(key)}
    log.info("read back for table schemas", topic=tp.topic, partition=tp.partition, before=before,
             still_missing=len(missing))
    return missing


def _ndjson_resolved_of(value: bytes | None) -> tuple[int, int | None] | None:
    """``(commit_ts, commit_time_ms)`` of a valid resolved event, else None."""
    if not value or b"resolved" not in value:
        return None
    try:
        event = Decoder().decode(value, "read-back", 0)
    except InvalidEventError:
        return None
    return (event.commit_ts, event.commit_time_ms) if type(event) is ResolvedEvent else None


def _names(partitions: set[InputPartition]) -> str:
    return ",".join(f"{t}[{p}]" for t, p in sorted(partitions))


def _describe(offsets: dict[InputPartition, int]) -> str:
    return ",".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(offsets.items()))
