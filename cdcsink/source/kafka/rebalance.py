"""The consume side of a kafka source's run: record runs of many input partitions
through the :class:`~cdcsink.source.kafka.merge.PartitionMerger`, and the
consumer group's rebalances.

Each run of records ends in a cut whose position is the merger's offsets, so
the group's committed offsets (the checkpoint) only ever cover acknowledged
events. On a revoke, the partitions' records are no longer taken; the intake
waits (bounded by ``source.revoke-timeout``) until what was taken from them is
acknowledged and commits before they are released. On an assignment, each
partition's last resolved event before its committed offset is read back, so
a DDL another partition replays, and the watermark, need not wait for new input.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from cdcsink.decode import Decoder, decode_records
from cdcsink.errors import InvalidEventError
from cdcsink.source import SourceOutput
from cdcsink.source.kafka.merge import InputPartition, Offsets, PartitionMerger

if TYPE_CHECKING:
    from cdcsink.source.kafka import KafkaChunk, KafkaSource

log = structlog.get_logger("cdcsink.pipeline")


class Settle:
    """An item the source yields to have the merger settled (no records with it): the
    read-back of newly assigned partitions' resolved ts may release held events."""


SETTLE = Settle()


class PartitionIntake:
    """Takes one run's record runs through the merger; handles the group's rebalances."""

    def __init__(self, source: "KafkaSource", out: SourceOutput) -> None:
        self.source = source
        self.out = out
        self.merger = PartitionMerger(pause=source.pause, resume=source.resume, covers_all=source.owns_all_partitions)
        self.decoder = Decoder()
        #: True while a record run is between the merger and its cut (a revoke must wait for it).
        self.in_chunk = False
        #: Set when a read-back found resolved ts: the source yields :data:`SETTLE` next.
        self.settle_wanted = False
        self._read_backs: set[asyncio.Task[None]] = set()

    async def take(self, item: "KafkaChunk | Settle", out: SourceOutput) -> InvalidEventError | None:
        """Process one record run of an input partition, or settle the merger. Each ends in a cut."""
        merger = self.merger
        if item is SETTLE:
            self.in_chunk = True
            try:
                settled: list[Any] = []
                merger.settle(settled)
                await out.process(settled)
                out.resolve(merger.snapshot())
            finally:
                self.in_chunk = False
            return None
        chunk: KafkaChunk = item  # type: ignore[assignment]
        part = merger.parts.get(chunk.input)
        if part is None or part.epoch != chunk.epoch:
            return None  # read before its partition was revoked: the next owner reads it again
        invalid: InvalidEventError | None = None
        decoder = self.decoder
        self.in_chunk = True
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
                out.count_invalid(invalid)
                if out.dead_letter is None:
                    end = chunk.offsets[invalid.index or 0]  # the offset never passes it
                    log.error("invalid input event; stopping", origin=invalid.origin, reason=invalid.reason)
                    break
                await out.dead_letter.put(invalid)
                log.warning("invalid input event set aside", origin=invalid.origin, reason=invalid.reason,
                            dead_letter=out.dead_letter.description)
                start = (invalid.index or 0) + 1
                invalid = None
            part.decode_resolved = decoder.last_resolved_ts
            if merger.parts.get(chunk.input) is part:
                await out.process(merger.feed(chunk.input, events, end), chunk.read_at)
            if merger.pending_release:
                merger.pending_release = False
                released: list[Any] = []
                merger.release(released)
                await out.process(released, chunk.read_at)
            out.resolve(merger.snapshot())
        finally:
            self.in_chunk = False
        return invalid

    # -- rebalance (called by the source's consumer) ---------------------------------

    async def partitions_revoked(self, partitions: set[InputPartition]) -> None:
        """Stop taking the partitions' records, wait (bounded by source.revoke-timeout)
        until what was taken is acknowledged, and commit it before they are released."""
        merger, out = self.merger, self.out
        merger.revoke(partitions)
        merger.pending_release = True
        timeout = self.source.config.revoke_timeout
        if not await out.wait_acked(timeout, busy=lambda: self.in_chunk):
            log.warning(
                "revoke-timeout passed before every event of the revoked partitions was acknowledged; "
                "the next owner replays from the last commit",
                revoke_timeout_s=timeout,
            )
        position = out.acked_position
        if isinstance(position, Offsets):  # the merger's snapshot at the last acknowledged cut; None before one
            settled = position.only(partitions)
            if settled:
                await self.source.commit(settled)
        merger.forget(partitions)

    def partitions_assigned(self, partitions: set[InputPartition], epoch: int) -> None:
        self.merger.assign(partitions, epoch)
        task = asyncio.get_running_loop().create_task(self._read_back_resolved(partitions, epoch))
        self._read_backs.add(task)
        task.add_done_callback(self._read_backs.discard)

    async def _read_back_resolved(self, partitions: set[InputPartition], epoch: int) -> None:
        """Give newly assigned partitions the resolved ts they had at their committed
        offsets, so a DDL or the watermark need not wait for their next resolved event."""
        try:
            found = await self.source.last_resolved(partitions)
        except Exception as error:
            log.warning("reading back the assigned partitions' last resolved events failed; "
                        "each resolves with its next one", error=f"{type(error).__name__}: {error}")
            return
        if self.merger.seed(found, epoch):
            self.settle_wanted = True

    async def close(self) -> None:
        tasks = list(self._read_backs)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
