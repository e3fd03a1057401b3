"""Source: where change events come from.

A source yields :class:`Chunk` objects, runs of raw lines from one origin.
It knows how to resume from a position it produced earlier (the checkpoint
store keeps it), so a restart re-reads from the last acknowledged resolved
event and never skips. Adding a source (a Kafka topic, an HTTP endpoint)
means one more module here and nothing elsewhere.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Protocol


class Chunk:
    """Consecutive lines of one origin, without their newlines.

    ``start_offset`` is the byte offset of the first line and ``first_line``
    its 1-based number; each line but possibly the last of the input was
    followed by one newline byte, and ``end_offset`` is the offset just after
    the chunk, so the position after any line can be computed without
    keeping per-line offsets.
    """

    __slots__ = ("origin", "lines", "first_line", "start_offset", "end_offset", "read_at")

    def __init__(self, origin: str, lines: list[bytes], first_line: int, start_offset: int, end_offset: int) -> None:
        self.origin = origin
        self.lines = lines
        self.first_line = first_line
        self.start_offset = start_offset
        self.end_offset = end_offset
        #: ``time.monotonic()`` when the pipeline received it (row latency starts here).
        self.read_at = 0.0


class LineSplitter:
    """Cuts a byte stream into chunks of complete lines, keeping offsets and line numbers."""

    def __init__(self, origin: str, offset: int = 0, line: int = 0) -> None:
        self.origin = origin
        self.offset = offset
        self.line = line
        self._partial = b""

    def feed(self, data: bytes) -> Chunk | None:
        """The complete lines in ``data`` (plus what was left over before), or None."""
        if self._partial:
            data = self._partial + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            self._partial = data
            return None
        self._partial = data[cut:]
        lines = data[: cut - 1].split(b"\n")
        return self._chunk(lines, cut)

    def finish(self) -> Chunk | None:
        """The last line when the input ends without a newline."""
        if not self._partial:
            return None
        data, self._partial = self._partial, b""
        return self._chunk([data], len(data))

    @property
    def has_partial(self) -> bool:
        return bool(self._partial)

    def _chunk(self, lines: list[bytes], size: int) -> Chunk:
        chunk = Chunk(self.origin, lines, self.line + 1, self.offset, self.offset + size)
        self.offset += size
        self.line += len(lines)
        return chunk

    def position(self) -> dict[str, Any]:
        """The position after the last complete line handed out."""
        return {"path": self.origin, "offset": self.offset, "line": self.line}


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
