"""Source: where change events come from, and how acknowledged progress is kept.

The pipeline knows only the two protocols here. A :class:`Source` reads items
only it understands (chunks of lines, record runs of input partitions,
replication messages) and turns each into events on a :class:`SourceOutput`,
the pipeline's side: route, encode and send them, cut the checkpoint where the
source can resume. A source also says where its acknowledged progress is kept
(:meth:`Source.checkpoint_store`: the checkpoint file, the consumer group's
committed offsets, a replication slot's confirmed position), so adding a
source means one more folder here, its config model and one line in
``cdcsink.source.config.SOURCES``, and nothing in the pipeline.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Protocol, Sequence

if TYPE_CHECKING:
    from cdcsink.checkpoint.store import Checkpoint, CheckpointStore
    from cdcsink.decode.dead_letter import DeadLetter
    from cdcsink.errors import InvalidEventError
    from cdcsink.metrics import Metrics


#: ``source.max-line-bytes`` by default: a line longer than this is invalid input.
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
#: How much of an over-long line is kept (as its raw text for a dead-letter target).
TOO_LONG_KEPT_BYTES = 1024
#: A UTF-8 byte order mark; skipped at the very start of an input, invalid elsewhere.
BOM = b"\xef\xbb\xbf"

#: What a file position remembers of the line that ends at its offset: the line's
#: length in bytes (with its newline, when it had one) and their CRC-32. A run
#: resuming at the offset compares it with the file's bytes before the offset, so
#: a file replaced since the checkpoint is refused, not read from a line that
#: happens to start there.
Fingerprint = tuple[int, int]


def line_fingerprint(line: bytes, newline: bool = True) -> Fingerprint:
    """The :data:`Fingerprint` of ``line`` (without its newline) and, when ``newline``, the newline after it."""
    crc = zlib.crc32(line)
    return (len(line) + 1, zlib.crc32(b"\n", crc)) if newline else (len(line), crc)


def line_position(origin: str, offset: int, line: int, before: Fingerprint | None) -> dict[str, Any]:
    """A line source's position: ``offset`` and ``line`` just after the line whose fingerprint is ``before``
    (None at the start of the input, or when it is not known)."""
    if before is None:
        return {"path": origin, "offset": offset, "line": line}
    return {"path": origin, "offset": offset, "line": line, "line_bytes": before[0], "line_crc32": before[1]}


class Chunk:
    """Consecutive lines of one origin, without their newlines.

    ``start_offset`` is the byte offset of the first line and ``first_line``
    its 1-based number; each line but possibly the last of the input was
    followed by one newline byte, and ``end_offset`` is the offset just after
    the chunk, so the position after any line can be computed without
    keeping per-line offsets.

    ``invalid`` is set when the source itself found the chunk's one line
    invalid (longer than ``source.max-line-bytes``): ``lines`` then holds only
    the line's first bytes, and ``end_offset`` is still just after the whole line;
    ``whole_line`` is then the whole line's fingerprint.

    ``before`` is the fingerprint of the line that ends at ``start_offset``
    (None at the start of the input, or when it is not known): positions
    before the chunk's first line carry it.
    """

    __slots__ = ("origin", "lines", "first_line", "start_offset", "end_offset", "read_at", "invalid", "before", "whole_line")

    def __init__(
        self,
        origin: str,
        lines: list[bytes],
        first_line: int,
        start_offset: int,
        end_offset: int,
        invalid: str | None = None,
        before: Fingerprint | None = None,
    ) -> None:
        self.origin = origin
        self.lines = lines
        self.first_line = first_line
        self.start_offset = start_offset
        self.end_offset = end_offset
        #: ``time.monotonic()`` when the pipeline received it (row latency starts here).
        self.read_at = 0.0
        self.invalid = invalid
        self.before = before
        self.whole_line: Fingerprint | None = None


class LineSplitter:
    """Cuts a byte stream into chunks of complete lines, keeping offsets and line numbers.

    Time and memory are linear in the input: a line that spans reads is kept
    as the list of its pieces and joined once, when its newline arrives. A
    line longer than ``max_line_bytes`` is not kept at all: past the limit its
    bytes are counted and dropped until its newline, and it comes out as a
    chunk of its own holding its first :data:`TOO_LONG_KEPT_BYTES` bytes (at
    most ``max_line_bytes``), with ``invalid`` saying why; offsets and line
    numbers stay exact. A UTF-8 byte order mark at offset 0 is skipped.
    ``tail`` is the fingerprint of the last complete line handed out (the one
    ending at ``offset``; given when resuming at a stored position).

    Each byte is copied a bounded number of times (by the read, the split
    into lines, and for a line spanning reads one join).
    """

    def __init__(
        self,
        origin: str,
        offset: int = 0,
        line: int = 0,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        tail: Fingerprint | None = None,
    ) -> None:
        self.origin = origin
        self.offset = offset
        self.line = line
        self.tail = tail
        self.max_line_bytes = max_line_bytes
        self._keep = min(TOO_LONG_KEPT_BYTES, max_line_bytes)
        #: The unfinished line's pieces, and their total length (at most max_line_bytes).
        self._pieces: list[bytes] = []
        self._held = 0
        #: While dropping an over-long line: its first bytes and its length so far.
        self._too_long_head: bytes | None = None
        self._too_long_size = 0
        self._too_long_crc = 0
        self._at_start = offset == 0
        #: At offset 0, the first bytes while they may still be a byte order mark.
        self._bom_prefix = b""

    def feed(self, data: bytes) -> list[Chunk]:
        """The chunks of the lines that ``data`` completes (none when it ends no line)."""
        out: list[Chunk] = []
        if self._at_start:
            data = self._skip_bom(data)
        if self._too_long_head is not None:
            newline = data.find(b"\n")
            if newline < 0:
                self._too_long_size += len(data)
                self._too_long_crc = zlib.crc32(data, self._too_long_crc)
                return out
            self._too_long_crc = zlib.crc32(data[:newline], self._too_long_crc)
            out.append(self._too_long_chunk(self._too_long_size + newline, newline=True))
            data = data[newline + 1 :]
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if data:
                self._hold(data)
            return out
        if not self._pieces:
            self._emit(data[: cut - 1].split(b"\n"), cut, out)
        else:
            # The held line ends at the first newline: joined once, here.
            newline = data.find(b"\n")
            if self._held + newline > self.max_line_bytes:
                self._hold(data[:newline])  # starts dropping it
                out.append(self._too_long_chunk(self._too_long_size, newline=True))
                if cut > newline + 1:
                    self._emit(data[newline + 1 : cut - 1].split(b"\n"), cut - newline - 1, out)
            else:
                self._pieces.append(data[:newline])
                head = b"".join(self._pieces)
                self._pieces.clear()
                self._held = 0
                if cut > newline + 1:
                    lines = data[newline + 1 : cut - 1].split(b"\n")
                    lines.insert(0, head)
                else:
                    lines = [head]
                self._emit(lines, len(head) + cut - newline, out)
        if cut < len(data):
            self._hold(data[cut:])
        return out

    def finish(self) -> Chunk | None:
        """The last line when the input ends without a newline."""
        if self._bom_prefix:  # the input is shorter than a byte order mark: a line
            self._at_start = False
            self._hold(self._bom_prefix)
            self._bom_prefix = b""
        if self._too_long_head is not None:
            return self._too_long_chunk(self._too_long_size, newline=False)
        if not self._pieces:
            return None
        data = b"".join(self._pieces)
        self._pieces.clear()
        self._held = 0
        return self._chunk([data], len(data), newline=False)

    @property
    def has_partial(self) -> bool:
        """Whether bytes of an unfinished line are held (or being dropped)."""
        return bool(self._pieces or self._bom_prefix) or self._too_long_head is not None

    @property
    def held_bytes(self) -> int:
        """Bytes of the unfinished line kept in memory (never more than max_line_bytes)."""
        return self._held + len(self._bom_prefix) + len(self._too_long_head or b"")

    def position(self) -> dict[str, Any]:
        """The position after the last complete line handed out."""
        return line_position(self.origin, self.offset, self.line, self.tail)

    def _skip_bom(self, data: bytes) -> bytes:
        """``data`` without a byte order mark at offset 0 (held while it may still be one)."""
        data = self._bom_prefix + data if self._bom_prefix else data
        if len(data) < len(BOM) and BOM.startswith(data):
            self._bom_prefix = data
            return b""
        self._bom_prefix = b""
        self._at_start = False
        if data.startswith(BOM):
            self.offset += len(BOM)
            return data[len(BOM) :]
        return data

    def _hold(self, data: bytes) -> None:
        """Keep ``data`` as part of the unfinished line, or start dropping a line grown too long."""
        if self._too_long_head is not None:
            self._too_long_size += len(data)
            self._too_long_crc = zlib.crc32(data, self._too_long_crc)
        elif self._held + len(data) <= self.max_line_bytes:
            self._pieces.append(data)
            self._held += len(data)
        else:
            self._pieces.append(data)
            head = b""
            crc = 0
            for piece in self._pieces:  # more than max_line_bytes: enough to keep
                crc = zlib.crc32(piece, crc)
                if len(head) < self._keep:
                    head += piece[: self._keep - len(head)]
            self._too_long_crc = crc
            self._too_long_head = head
            self._too_long_size = self._held + len(data)
            self._pieces.clear()
            self._held = 0

    def _emit(self, lines: list[bytes], size: int, out: list[Chunk]) -> None:
        """Chunks of complete ``lines`` (``size`` bytes with their newlines): one for
        the lot, unless some are too long; each of those is a chunk of its own."""
        limit = self.max_line_bytes
        if size <= limit + 1 or max(map(len, lines)) <= limit:
            out.append(self._chunk(lines, size))
            return
        run: list[bytes] = []
        for line in lines:
            if len(line) <= limit:
                run.append(line)
                continue
            if run:
                out.append(self._chunk(run, sum(map(len, run)) + len(run)))
                run = []
            self._too_long_head = line[: self._keep]
            self._too_long_crc = zlib.crc32(line)
            out.append(self._too_long_chunk(len(line), newline=True))
        if run:
            out.append(self._chunk(run, sum(map(len, run)) + len(run)))

    def _too_long_chunk(self, size: int, *, newline: bool) -> Chunk:
        """The chunk of the over-long line of ``size`` bytes whose head is kept; ends dropping it."""
        head = self._too_long_head or b""
        crc = zlib.crc32(b"\n", self._too_long_crc) if newline else self._too_long_crc
        self._too_long_head, self._too_long_size, self._too_long_crc = None, 0, 0
        reason = f"line longer than {self.max_line_bytes} bytes (it has {size}; source.max-line-bytes)"
        chunk = Chunk(self.origin, [head], self.line + 1, self.offset, self.offset + size + newline, reason, self.tail)
        chunk.whole_line = self.tail = (size + newline, crc)
        self.offset += size + newline
        self.line += 1
        return chunk

    def _chunk(self, lines: list[bytes], size: int, newline: bool = True) -> Chunk:
        """A chunk of complete ``lines`` (``size`` bytes; the last one ends in a newline unless not ``newline``)."""
        chunk = Chunk(self.origin, lines, self.line + 1, self.offset, self.offset + size, None, self.tail)
        self.tail = line_fingerprint(lines[-1], newline)
        self.offset += size
        self.line += len(lines)
        return chunk


class SourceOutput(Protocol):
    """What the pipeline hands a source: where its events go, and how it cuts the checkpoint.

    Events go through :meth:`process` in input order. The checkpoint moves in
    segments: a :class:`~cdcsink.events.ResolvedEvent` among the events closes
    one at its ts and position, :meth:`resolve` closes one at a position
    without a new resolved ts (a source whose position moves between resolved
    events). A segment's position is stored once every event before it is
    acknowledged by Kafka, and never before.
    """

    #: The daemon's metrics (a source may export its own series).
    metrics: "Metrics"
    #: Where invalid input is set aside with ``source.on-invalid: dead-letter`` (None: fail).
    dead_letter: "DeadLetter | None"

    async def process(self, events: Sequence[Any], read_at: float = 0.0) -> None:
        """Route, encode and hand over ``events`` in order (``read_at``: when they were read, monotonic)."""
        ...

    async def after_chunk(self, idle: bool) -> None:
        """Hand over what the producer can take now (everything when ``idle``); waits under backpressure."""
        ...

    def resolve(self, position: dict[str, Any] | None) -> None:
        """Cut the checkpoint here: once everything before it is acknowledged, ``position`` is stored
        (with the latest resolved ts)."""
        ...

    def end_of_input(self, position: dict[str, Any] | None) -> None:
        """The input ended (or stopped) at ``position``; stored once everything is acknowledged."""
        ...

    @property
    def acked_position(self) -> dict[str, Any] | None:
        """The position of the newest cut whose events are all acknowledged."""
        ...

    async def wait_acked(self, timeout: float, busy: Callable[[], bool] = lambda: False) -> bool:
        """Wait (at most ``timeout`` seconds) until every event handed over is acknowledged and
        ``busy()`` is false; False when the time ran out or delivery failed first."""
        ...

    def count_invalid(self, error: "InvalidEventError") -> None:
        """Count an invalid input event by its reason code."""
        ...


class Source(Protocol):
    """A source of change events for one run of the pipeline.

    The pipeline calls :meth:`checkpoint_store` and :meth:`start_from` once, then
    iterates :meth:`read` in one task and hands each item, in order, to
    :meth:`take` in another (a bounded queue between them). When :meth:`read`
    ends, or a stop is requested, :meth:`finish` is called, then :meth:`close`
    in every case.
    """

    #: A short human name for logs (``file:/data/events.ndjson``).
    description: str

    def checkpoint_store(self, configured: "Callable[[], CheckpointStore]") -> "CheckpointStore":
        """Where this source's acknowledged progress is kept: ``configured()`` (the
        ``checkpoint.store`` file) or a store of the source's own."""
        ...

    def start_from(self, stored: "Checkpoint | None", store: str) -> "Checkpoint | None":
        """Where this run starts, given the stored checkpoint (``store`` names it for logs)."""
        ...

    def read(self, start: "Checkpoint | None", out: SourceOutput) -> AsyncIterator[Any]:
        """Items in input order from just after ``start`` (the beginning when None).
        Ends at the end of input unless the source follows its input."""
        ...

    async def take(self, item: Any, out: SourceOutput) -> "InvalidEventError | None":
        """Turn one item into events on ``out``; the invalid event that stops the run, if any."""
        ...

    async def finish(self, out: SourceOutput, stopped: bool) -> None:
        """The last item was taken: the input ended, or (``stopped``) a stop or an invalid event cut it short."""
        ...

    async def close(self) -> None:
        """Release connections; called once per run, after everything else."""
        ...
