"""The confluent-kafka (librdkafka) producers.

**Row batches.** A batch is a run of ``produce()`` calls for one partition;
only its last message carries a delivery callback, so acknowledging costs
one Python call per batch, not per message. That is sound because of how
the row producer is configured (see :mod:`.config`): idempotent, with the
gapless guarantee and no local message timeout. librdkafka then delivers a
partition's messages in order, retries without reordering or duplicating,
and any error that could leave a gap (a message failing for good) becomes a
fatal error that fails every message still held, the last one of each batch
included. So when a batch's last message is acknowledged, all of it is; when
any of it fails, its last message fails too.

**Fail-fast fence.** The first failure (a delivery error, librdkafka's fatal
error, a TLS or SASL refusal it reports, or no acknowledgement on a
partition for the request timeout) fails every outstanding batch, purges
what librdkafka still holds, and refuses every later batch. Nothing sent
after a failed batch can then land without it: what is purged was never
sent, and what was in flight is written in order or not at all.
The timeout is cdcsink's, not librdkafka's: librdkafka would drop a timed-out
message and go on with the next ones (a gap).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, Sequence

from confluent_kafka import KafkaError, KafkaException, Producer

from cdcsink.kafka import AckCallback
from cdcsink.kafka.confluent.bridge import PollThread
from cdcsink.kafka.confluent.errors import client_error, refusal
from cdcsink.kafka.confluent.stats import Statistics, parse_statistics
from cdcsink.kafka.errors import KafkaClientError, with_retries

#: How long to wait before producing again when librdkafka's queue is full.
_ROOM_WAIT = 0.05


class ConfluentBatch:
    """Records for one topic-partition up to a byte limit; an empty batch takes one
    record however large (the size check is the encoder's and the broker's)."""

    __slots__ = ("records", "room")

    def __init__(self, limit: int) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.room = limit

    def extend(self, messages: Sequence[tuple[bytes | None, bytes]], start: int) -> int:
        records, room = self.records, self.room
        i, count = start, len(messages)
        while i < count:
            message = messages[i]
            size = len(message[1])
            if size > room and records:
                break
            records.append(message)
            room -= size
            i += 1
        self.room = room
        return i - start

    def __len__(self) -> int:
        return len(self.records)


class _Sent:
    """A batch handed to librdkafka; called with the delivery report of its last message."""

    __slots__ = ("on_ack", "tp", "at", "done", "_report")

    def __init__(self, on_ack: AckCallback, tp: tuple[str, int], at: float, report: Any) -> None:
        self.on_ack = on_ack
        self.tp = tp
        self.at = at
        self.done = False
        self._report = report

    def __call__(self, error: KafkaError | None, message: Any) -> None:  # in the poll thread
        self._report((self, error))


class ConfluentAsyncProducer:
    def __init__(self, producer: Producer, poller: PollThread, *, batch_bytes: int, timeout: float) -> None:
        self._producer = producer
        self._poller = poller
        self._batch_bytes = batch_bytes
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        #: Outstanding batches per partition, oldest first (librdkafka acks them in this order).
        self._outstanding: dict[tuple[str, int], deque[_Sent]] = {}
        #: When each partition's last batch was acknowledged (loop time).
        self._progress: dict[tuple[str, int], float] = {}
        self._count = 0
        self._fenced: KafkaClientError | None = None
        self._room = asyncio.Event()
        #: librdkafka's last transient error (a broker down), named when a timeout fails a batch.
        self.last_error: str | None = None
        #: The latest statistics (None until the first, or when statistics.interval.ms is 0).
        self.statistics: Statistics | None = None
        self._report = lambda item: poller.call_in_loop(self._delivered, item)
        self._watchdog = self._loop.create_task(self._watch())

    # -- callbacks in the poll thread --------------------------------------------------

    def on_error(self, error: KafkaError) -> None:
        if error.fatal() or refusal(error) is not None:
            self._poller.call_in_loop(self._fail, client_error(error))
        else:
            self.last_error = f"{error.name()}: {error.str()}"

    def on_statistics(self, text: str) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self.statistics = parse_statistics(text)

    # -- the AsyncProducer protocol ----------------------------------------------------

    def new_batch(self) -> ConfluentBatch:
        return ConfluentBatch(self._batch_bytes)

    def is_idle(self, topic: str, partition: int) -> bool:
        return not self._outstanding.get((topic, partition))

    def inflight_requests(self) -> int:
        """Batches handed to librdkafka and not yet acknowledged."""
        return self._count

    async def send_batch(self, batch: ConfluentBatch, topic: str, partition: int, on_ack: AckCallback) -> None:
        if self._fenced is not None:
            on_ack(self._fenced)
            return
        tp = (topic, partition)
        sent = _Sent(on_ack, tp, self._loop.time(), self._report)
        queue = self._outstanding.get(tp)
        if queue is None:
            queue = self._outstanding[tp] = deque()
        queue.append(sent)  # before producing: a fence while waiting for room fails it too
        self._count += 1
        produce = self._producer.produce
        records = batch.records
        last = len(records) - 1
        i = 0
        while True:
            try:
                while i < last:
                    key, value = records[i]
                    produce(topic, value, key, partition)
                    i += 1
                key, value = records[last]
                produce(topic, value, key, partition, on_delivery=sent)
                return
            except BufferError:  # librdkafka's queue is full: wait for acknowledgements
                self._room.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._room.wait(), _ROOM_WAIT)
                if self._fenced is not None:
                    return  # failed by the fence, with every other outstanding batch
            except KafkaException as error:
                self._fail(client_error(error.args[0], f"topic {topic} partition {partition}"), first=sent)
                return

    # -- acknowledgements and failures (event loop) ------------------------------------

    def _delivered(self, item: tuple[_Sent, KafkaError | None]) -> None:
        sent, error = item
        if sent.done:
            return  # already failed by the fence (a purge reports it again)
        if error is not None:
            topic, partition = sent.tp
            self._fail(client_error(error, f"topic {topic} partition {partition}"), first=sent)
            return
        sent.done = True
        queue = self._outstanding[sent.tp]
        if queue[0] is sent:
            queue.popleft()
        else:
            queue.remove(sent)
        self._count -= 1
        self._progress[sent.tp] = self._loop.time()
        self._room.set()
        sent.on_ack(None)

    def _fail(self, error: KafkaClientError, first: _Sent | None = None) -> None:
        """Fail ``first`` (else the oldest outstanding batch) with ``error`` and every
        other outstanding batch as not sent; purge librdkafka; refuse later batches."""
        if self._fenced is None:
            self._fenced = KafkaClientError(
                f"not sent: an earlier batch failed ({error})", name=error.name, retriable=error.retriable, refusal=error.refusal
            )
            with contextlib.suppress(Exception):
                self._producer.purge(True, True, False)
        failed = sorted((s for queue in self._outstanding.values() for s in queue if not s.done), key=lambda s: s.at)
        for queue in self._outstanding.values():
            queue.clear()
        self._count = 0
        self._room.set()
        if first is not None and not first.done:
            failed = [first] + [s for s in failed if s is not first]
        for n, sent in enumerate(failed):
            sent.done = True
            sent.on_ack(error if n == 0 else self._fenced)

    async def _watch(self) -> None:
        """Fail the run when a partition with outstanding batches has had no
        acknowledgement for the request timeout (librdkafka keeps retrying)."""
        loop, timeout = self._loop, self._timeout
        while self._fenced is None:
            await asyncio.sleep(max(0.05, timeout / 4))
            now = loop.time()
            for tp, queue in self._outstanding.items():
                if queue and now - max(queue[0].at, self._progress.get(tp, 0.0)) > timeout:
                    last = f"; last client error {self.last_error}" if self.last_error else ""
                    self._fail(KafkaClientError(
                        f"topic {tp[0]} partition {tp[1]}: no acknowledgement within {timeout:g}s"
                        f" (read/write-timeout){last}",
                        name="_MSG_TIMED_OUT",
                        retriable=True,
                    ))
                    return

    async def close(self) -> None:
        self._watchdog.cancel()
        if self._count:
            self._fail(KafkaClientError("not acknowledged: the producer was closed", name="_DESTROY", retriable=True))
        await self._poller.stop()
        await asyncio.to_thread(_shut_down, self._producer)


class ConfluentSyncProducer:
    """DDL and watermark messages: each awaited, retriable errors retried with
    backoff (max-retry); librdkafka's own retries end at the request timeout."""

    def __init__(self, producer: Producer, poller: PollThread, max_retry: int) -> None:
        self._producer = producer
        self._poller = poller
        self._max_retry = max_retry
        self._waiting: set[asyncio.Future[KafkaError | None]] = set()
        self._refusal: KafkaClientError | None = None
        self._settle = lambda item: poller.call_in_loop(_settle, item)

    def on_error(self, error: KafkaError) -> None:  # in the poll thread
        if error.fatal() or refusal(error) is not None:
            self._poller.call_in_loop(self._refused, client_error(error))

    def _refused(self, error: KafkaClientError) -> None:
        self._refusal = error
        for future in self._waiting:
            if not future.done():
                future.set_exception(error)

    async def _send_once(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None
    ) -> None:
        if self._refusal is not None:
            raise self._refusal
        future: asyncio.Future[KafkaError | None] = asyncio.get_running_loop().create_future()
        settle = self._settle

        def report(error: KafkaError | None, message: Any) -> None:  # in the poll thread
            settle((future, error))

        while True:
            try:
                if headers:
                    self._producer.produce(topic, value, key, partition, on_delivery=report, headers=headers)
                else:
                    self._producer.produce(topic, value, key, partition, on_delivery=report)
                break
            except BufferError:
                await asyncio.sleep(_ROOM_WAIT)
            except KafkaException as error:
                raise client_error(error.args[0], f"topic {topic} partition {partition}") from None
        self._waiting.add(future)
        try:
            error = await future
        finally:
            self._waiting.discard(future)
        if error is not None:
            raise client_error(error, f"topic {topic} partition {partition}")

    async def _send_with_retry(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await with_retries(lambda: self._send_once(topic, partition, key, value, headers), self._max_retry)

    async def send_message(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self._send_with_retry(topic, partition, key, value, headers)

    async def send_messages(self, topic: str, partitions: int, key: bytes | None, value: bytes) -> None:
        await asyncio.gather(*(self._send_with_retry(topic, p, key, value) for p in range(partitions)))

    async def close(self) -> None:
        await self._poller.stop()
        await asyncio.to_thread(_shut_down, self._producer)


def _settle(item: tuple[asyncio.Future[KafkaError | None], KafkaError | None]) -> None:
    future, error = item
    if not future.done():
        future.set_result(error)


def _shut_down(producer: Producer) -> None:
    """Drop what librdkafka still holds (nothing, after a clean run) and stop its threads."""
    with contextlib.suppress(Exception):
        producer.purge(True, True, True)
        producer.flush(0)
    with contextlib.suppress(Exception):
        producer.close()
