"""Source: where change events come from.

A source yields :class:`Chunk` objects, runs of raw lines from one origin.
It knows how to resume from a position it produced earlier (the checkpoint
store keeps it), so a restart re-reads from the last acknowledged resolved
event and never skips. Adding a source (a Kafka topic, an HTTP endpoint)
means one more module here and nothing elsewhere.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Protocol


#: ``source.max-line-bytes`` by default: a line longer than this is invalid input.
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
#: How much of an over-long line is kept (as its raw text for a dead-letter target).
TOO_LONG_KEPT_BYTES = 1024
#: A UTF-8 byte order mark; skipped at the very start of an input, invalid elsewhere.
BOM = b"\xef\xbb\xbf"


class Chunk:
    """Consecutive lines of one origin, without their newlines.

    ``start_offset`` is the byte offset of the first line and ``first_line``
    its 1-based number; each line but possibly the last of the input was
    followed by one newline byte, and ``end_offset`` is the offset just after
    the chunk, so the position after any line can be computed without
    keeping per-line offsets.

    ``invalid`` is set when the source itself found the chunk's one line
    invalid (longer than ``source.max-line-bytes``): ``lines`` then holds only
    the line's first bytes, and ``end_offset`` is still just after the whole line.
    """

    __slots__ = ("origin", "lines", "first_line", "start_offset", "end_offset", "read_at", "invalid")

    def __init__(
        self,
        origin: str,
        lines: list[bytes],
        first_line: int,
        start_offset: int,
        end_offset: int,
        invalid: str | None = None,
    ) -> None:
        self.origin = origin
        self.lines = lines
        self.first_line = first_line
        self.start_offset = start_offset
        self.end_offset = end_offset
        #: ``time.monotonic()`` when the pipeline received it (row latency starts here).
        self.read_at = 0.0
        self.invalid = invalid


class LineSplitter:
    """Cuts a byte stream into chunks of complete lines, keeping offsets and line numbers.

    Time and memory are linear in the input: a line that spans reads is kept
    as the list of its pieces and joined once, when its newline arrives. A
    line longer than ``max_line_bytes`` is not kept at all: past the limit its
    bytes are counted and dropped until its newline, and it comes out as a
    chunk of its own holding its first :data:`TOO_LONG_KEPT_BYTES` bytes (at
    most ``max_line_bytes``), with ``invalid`` saying why; offsets and line
    numbers stay exact. A UTF-8 byte order mark at offset 0 is skipped.

    Each byte is copied a bounded number of times (by the read, the split
    into lines, and for a line spanning reads one join).
    """

    def __init__(self, origin: str, offset: int = 0, line: int = 0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.origin = origin
        self.offset = offset
        self.line = line
        self.max_line_bytes = max_line_bytes
        self._keep = min(TOO_LONG_KEPT_BYTES, max_line_bytes)
        #: The unfinished line's pieces, and their total length (at most max_line_bytes).
        self._pieces: list[bytes] = []
        self._held = 0
        #: While dropping an over-long line: its first bytes and its length so far.
        self._too_long_head: bytes | None = None
        self._too_long_size = 0
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
                return out
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
        return self._chunk([data], len(data))

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
        return {"path": self.origin, "offset": self.offset, "line": self.line}

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
        elif self._held + len(data) <= self.max_line_bytes:
            self._pieces.append(data)
            self._held += len(data)
        else:
            self._pieces.append(data)
            head = b""
            for piece in self._pieces:  # more than max_line_bytes: enough to keep
                head += piece[: self._keep - len(head)]
                if len(head) == self._keep:
                    break
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
            out.append(self._too_long_chunk(len(line), newline=True))
        if run:
            out.append(self._chunk(run, sum(map(len, run)) + len(run)))

    def _too_long_chunk(self, size: int, *, newline: bool) -> Chunk:
        """The chunk of the over-long line of ``size`` bytes whose head is kept; ends dropping it."""
        head = self._too_long_head or b""
        self._too_long_head, self._too_long_size = None, 0
        reason = f"line longer than {self.max_line_bytes} bytes (it has {size}; source.max-line-bytes)"
        chunk = Chunk(self.origin, [head], self.line + 1, self.offset, self.offset + size + newline, reason)
        self.offset += size + newline
        self.line += 1
        return chunk

    def _chunk(self, lines: list[bytes], size: int) -> Chunk:
        chunk = Chunk(self.origin, lines, self.line + 1, self.offset, self.offset + size)
        self.offset += size
        self.line += len(lines)
        return chunk


class Source(Protocol):
    #: A short human name for logs (``file:/data/events.ndjson``).
    description: str

    def chunks(self, position: dict[str, Any] | None) -> AsyncIterator[Chunk]:
        """Yield chunks in input order, starting just after ``position``
        (from the beginning when None). Ends at the end of input unless the
        source follows its input."""
        ...

    def end_position(self) -> dict[str, Any] | None:
        """The position after the last line yielded (valid once iteration ended)."""
        ...
