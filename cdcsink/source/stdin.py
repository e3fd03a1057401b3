"""The ``stdin`` source: NDJSON events on standard input, until it closes.

A pipe cannot be rewound, so the source keeps in memory every line it read
that the stored checkpoint does not cover yet, and a new run in the same
process (the supervisor restarting after a retriable failure) replays them
from the checkpoint before reading on. Standard input stays open across runs.
What must be kept stays bounded: the pipeline cuts the checkpoint after every
chunk for this source and reports each stored checkpoint
(:meth:`StdinSource.stored_checkpoint`), so it covers each chunk once its
events are acknowledged and stored, and the source reads ahead of the
pipeline by at most ``read_ahead`` chunks.

A new process cannot resume an earlier process's pipe: its stored checkpoint
is not used, and the new pipe is read from its start.
"""

from __future__ import annotations

import asyncio
import os
import queue
import stat
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, BinaryIO, Callable

import structlog

from cdcsink.checkpoint.store import Checkpoint, CheckpointStore
from cdcsink.decode import position_before
from cdcsink.source import DEFAULT_MAX_LINE_BYTES, Chunk, LineSplitter, line_fingerprint
from cdcsink.source.lines import LineIntake, LineSource

if TYPE_CHECKING:
    from cdcsink.source.config import SourceConfig

log = structlog.get_logger("cdcsink.pipeline")

ORIGIN = "<stdin>"


class StdinSource(LineSource):
    description = "stdin"

    def __init__(
        self,
        stream: BinaryIO | None = None,
        read_bytes: int = 256 * 1024,
        read_ahead: int = 2,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._stream = stream
        self.read_bytes = read_bytes
        self.read_ahead = read_ahead
        self._splitter = LineSplitter(ORIGIN, max_line_bytes=max_line_bytes)
        #: Chunks read and not yet covered by a stored checkpoint, oldest first.
        self._kept: deque[Chunk] = deque()
        #: Sequence number of ``_kept[0]`` (chunks are numbered in reading order).
        self._first_seq = 0
        #: Sequence number of the next chunk the current run has not taken yet.
        self._taken = 0
        self._ended = False
        self._error: BaseException | None = None
        self._arrived: asyncio.Event | None = None
        self._wanted: asyncio.Event | None = None
        self._reader: asyncio.Task[None] | None = None
        #: The last checkpoint stored in this process for this pipe (None: nothing yet).
        self.stored: Checkpoint | None = None
        self._intake = LineIntake(self.end_position, cut_every_chunk=True)

    def checkpoint_store(self, configured: Callable[[], CheckpointStore]) -> CheckpointStore:
        return _PipeStore(configured(), self)

    def start_from(self, stored: Checkpoint | None, store: str) -> Checkpoint | None:
        """A pipe only this process can replay (from the lines it kept since its last
        stored checkpoint): the stored checkpoint of an earlier process is not used."""
        own = self.stored
        if own is not None:
            log.info("replaying the pipe from the checkpoint (its later lines were kept in memory)",
                     checkpoint_ts=own.checkpoint_ts, position=own.position)
        elif not self.started:
            if stored is not None:
                log.info("a pipe cannot be resumed: the stored checkpoint of an earlier run is not used; "
                         "reading this pipe from its start",
                         stored_checkpoint_ts=stored.checkpoint_ts, stored_position=stored.position, store=store)
            else:
                log.info("no checkpoint yet: reading the pipe from its start", store=store)
        return own

    @classmethod
    def from_config(cls, config: "SourceConfig", client_id: str = "cdcsink") -> "StdinSource":
        return cls(max_line_bytes=config.max_line_bytes)

    @property
    def started(self) -> bool:
        return self._reader is not None

    def end_position(self) -> dict[str, Any] | None:
        return self._splitter.position()

    def stored_checkpoint(self, checkpoint: Checkpoint) -> None:
        """``checkpoint`` is stored: the lines before its position need not be kept."""
        self.stored = checkpoint
        offset = (checkpoint.position or {}).get("offset", 0)
        kept = self._kept
        while kept and kept[0].end_offset <= offset:
            kept.popleft()
            self._first_seq += 1

    def lines_read(self) -> int:
        """Lines read from the pipe so far (a trailing line without its newline counts)."""
        return self._splitter.line + (1 if self._splitter.has_partial else 0)

    def lines_stored(self) -> int:
        """Lines the stored checkpoint covers: delivered, and never needed again."""
        if self.stored is None or not self.stored.position:
            return 0
        return int(self.stored.position.get("line", 0))

    async def chunks(self, position: dict[str, Any] | None) -> AsyncIterator[Chunk]:
        """The kept chunks from ``position`` (a checkpoint this process stored, or None
        for the start of the pipe), then what the pipe brings next."""
        self._start()
        assert self._arrived is not None and self._wanted is not None
        seq, first = self._find(position)
        if first is not None:
            self._taken = seq + 1
            self._wanted.set()
            yield first
            seq += 1
        while True:
            if seq < self._first_seq + len(self._kept):
                chunk = self._kept[seq - self._first_seq]
                seq += 1
                self._taken = seq
                self._wanted.set()
                yield chunk
                continue
            if self._ended:
                if self._error is not None:
                    raise self._error
                return
            self._taken = seq
            self._wanted.set()
            self._arrived.clear()
            await self._arrived.wait()

    def _find(self, position: dict[str, Any] | None) -> tuple[int, Chunk | None]:
        """Where a run starting at ``position`` begins: a chunk's sequence number, and that
        chunk cut at the position when the position falls inside it."""
        offset = (position or {}).get("offset", 0)
        for i, chunk in enumerate(self._kept):
            if chunk.end_offset > offset:
                seq = self._first_seq + i
                return (seq, _cut(chunk, offset)) if chunk.start_offset < offset else (seq, None)
        return self._first_seq + len(self._kept), None

    def _start(self) -> None:
        if self._reader is None:
            self._arrived, self._wanted = asyncio.Event(), asyncio.Event()
            self._reader = asyncio.get_running_loop().create_task(self._read_all(), name="stdin")

    async def _read_all(self) -> None:
        """Read the pipe for the life of the process, never further ahead of the run than ``read_ahead`` chunks."""
        assert self._arrived is not None and self._wanted is not None
        try:
            read = await self._open()
            while True:
                while self._first_seq + len(self._kept) - self._taken >= self.read_ahead:
                    self._wanted.clear()
                    await self._wanted.wait()
                data = await read()
                if not data:
                    break
                chunks = self._splitter.feed(data)
                if chunks:
                    self._kept.extend(chunks)
                    self._arrived.set()
            last = self._splitter.finish()
            if last is not None:
                self._kept.append(last)
        except Exception as error:  # reported to the run that reads next
            self._error = error
        finally:
            self._ended = True
            self._arrived.set()

    async def _open(self) -> Callable[[], Awaitable[bytes]]:
        stream = self._stream if self._stream is not None else sys.stdin.buffer
        mode = os.fstat(stream.fileno()).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            # A file redirected to stdin (`< events.ndjson`), /dev/null or a terminal:
            # an event loop cannot watch every kind, so they are read in a thread.
            return _BlockingReads(stream.fileno(), self.read_bytes).read
        reader = asyncio.StreamReader(limit=self.read_bytes * 4)
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stream)
        return lambda: reader.read(self.read_bytes)


class _PipeStore:
    """The configured store, telling the pipe each checkpoint once it is stored
    (the lines it covers need not be kept any more)."""

    def __init__(self, store: CheckpointStore, pipe: StdinSource) -> None:
        self.store = store
        self.pipe = pipe
        self.description = store.description

    def load(self) -> Checkpoint | None:
        return self.store.load()

    def check_writable(self) -> None:
        self.store.check_writable()

    async def save(self, checkpoint: Checkpoint) -> bool:
        if not await self.store.save(checkpoint):
            return False
        self.pipe.stored_checkpoint(checkpoint)
        return True


class _BlockingReads:
    """Reads of a descriptor in a daemon thread, one per request: a read that waits
    (a terminal) never holds up the process's exit, as an executor's thread would."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self._loop = asyncio.get_running_loop()
        self._requests: queue.SimpleQueue[asyncio.Future[bytes]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="stdin-reader", daemon=True).start()

    async def read(self) -> bytes:
        future: asyncio.Future[bytes] = self._loop.create_future()
        self._requests.put(future)
        return await future

    def _serve(self) -> None:
        while True:
            future = self._requests.get()
            try:
                data = os.read(self.fd, self.size)
            except OSError as error:
                self._hand_over(future, error)
            else:
                self._hand_over(future, data)

    def _hand_over(self, future: asyncio.Future[bytes], outcome: bytes | OSError) -> None:
        def settle() -> None:
            if future.done():
                return
            if isinstance(outcome, OSError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: the process is ending
            pass


def _cut(chunk: Chunk, offset: int) -> Chunk:
    """The lines of ``chunk`` from byte ``offset`` (a line boundary) on."""
    at = chunk.start_offset
    for i, line in enumerate(chunk.lines):
        if at >= offset:
            before = chunk.before if i == 0 else line_fingerprint(chunk.lines[i - 1])
            return Chunk(chunk.origin, chunk.lines[i:], chunk.first_line + i, at, chunk.end_offset, None, before)
        at += len(line) + 1
    end = position_before(chunk, len(chunk.lines))
    before = (end["line_bytes"], end["line_crc32"]) if "line_bytes" in end else None
    return Chunk(chunk.origin, [], chunk.first_line + len(chunk.lines), chunk.end_offset, chunk.end_offset, None, before)
