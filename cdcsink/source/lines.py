"""What the NDJSON line sources (file, stdin) share: decoding chunks of lines into
events, setting invalid lines aside, and where a stopped run's position goes.

:class:`LineIntake` is the consume side of one run: each chunk's lines are
decoded in order; a resolved event carries the position just after its line.
An invalid line either stops the run (the position never passes it) or, with
``source.on-invalid: dead-letter``, is set aside before the run moves past it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

import structlog

from cdcsink.checkpoint.store import Checkpoint, CheckpointStore
from cdcsink.decode import Decoder, chunk_after, decode_chunk, position_before
from cdcsink.errors import InvalidEventError
from cdcsink.source import Chunk, SourceOutput

log = structlog.get_logger("cdcsink.pipeline")


def resumes_at(start: Checkpoint | None) -> tuple[int, dict[str, Any] | None]:
    """The decoder's last resolved ts and the position a run starting at ``start`` reads from."""
    if start is None or start.position is None:
        return 0, None
    return start.checkpoint_ts, start.position


class LineIntake:
    """Decodes the chunks of one run, sets invalid lines aside, and places the end position."""

    def __init__(self, end_position: Callable[[], dict[str, Any] | None], *, cut_every_chunk: bool = False) -> None:
        self._end_position = end_position
        #: A pipe is kept in memory until the checkpoint covers it: let the checkpoint move with every chunk.
        self.cut_every_chunk = cut_every_chunk
        self.decoder = Decoder()
        #: The last chunk processed and how many of its lines were (all, or those before an
        #: invalid one): where a stopped run's position moves once everything is acked.
        self._last: Chunk | None = None
        self._last_lines = 0
        self._invalid: InvalidEventError | None = None

    def begin(self, last_resolved_ts: int) -> None:
        self.decoder = Decoder(last_resolved_ts)
        self._last, self._last_lines, self._invalid = None, 0, None

    async def take(self, chunk: Chunk, out: SourceOutput) -> InvalidEventError | None:
        decoder = self.decoder
        events, invalid = decode_chunk(decoder, chunk)
        await out.process(events, chunk.read_at)
        while invalid is not None:
            out.count_invalid(invalid)
            if out.dead_letter is None:
                break
            # Set aside before moving past it: the checkpoint never skips a line.
            await out.dead_letter.put(invalid)
            log.warning(
                "invalid input event set aside",
                origin=invalid.origin,
                reason=invalid.reason,
                dead_letter=out.dead_letter.description,
            )
            chunk = chunk_after(chunk, invalid.index or 0)
            events, invalid = decode_chunk(decoder, chunk)
            await out.process(events, chunk.read_at)
        if invalid is not None:
            log.error("invalid input event; stopping", origin=invalid.origin, reason=invalid.reason)
            self._last, self._last_lines, self._invalid = chunk, invalid.index or 0, invalid
            return invalid
        self._last, self._last_lines = chunk, len(chunk.lines)
        if self.cut_every_chunk:
            # A cut at the chunk's end: once its events are acknowledged the checkpoint
            # covers it, so a source replaying from memory can let it go.
            out.resolve(position_before(chunk, self._last_lines))
        return None

    def finish(self, out: SourceOutput, stopped: bool) -> None:
        if self._invalid is None and not stopped:
            out.end_of_input(self._end_position())
        elif self._last is not None:
            # Stopped by a signal or an invalid line: what was processed is delivered
            # once acked, so the position moves past it (never past the invalid line)
            # and a restart sends none of it again. The ts stays at the last resolved.
            out.end_of_input(position_before(self._last, self._last_lines))


class LineSource:
    """The parts of :class:`~cdcsink.source.Source` the line sources share; a subclass
    gives ``chunks(position)`` and ``end_position()``."""

    description: str
    _intake: LineIntake

    def chunks(self, position: dict[str, Any] | None) -> AsyncIterator[Chunk]:
        raise NotImplementedError

    def end_position(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def checkpoint_store(self, configured: Callable[[], CheckpointStore]) -> CheckpointStore:
        return configured()

    def start_from(self, stored: Checkpoint | None, store: str) -> Checkpoint | None:
        if stored is not None:
            log.info("resuming from checkpoint", checkpoint_ts=stored.checkpoint_ts, position=stored.position, store=store)
        else:
            log.info("no checkpoint yet: reading the input from its start", store=store)
        return stored

    async def read(self, start: Checkpoint | None, out: SourceOutput) -> AsyncIterator[Chunk]:
        last_resolved_ts, position = resumes_at(start)
        self._intake.begin(last_resolved_ts)
        async for chunk in self.chunks(position):
            chunk.read_at = time.monotonic()
            yield chunk

    async def take(self, item: Chunk, out: SourceOutput) -> InvalidEventError | None:
        return await self._intake.take(item, out)

    async def finish(self, out: SourceOutput, stopped: bool) -> None:
        self._intake.finish(out, stopped)

    async def close(self) -> None:
        await asyncio.sleep(0)
