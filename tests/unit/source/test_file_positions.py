"""File positions against the file itself (hypothesis): whatever the lines
(empty ones, a last one without a newline, ones longer than max-line-bytes,
a byte order mark at the start) and however the reads cut them, each chunk
line's number and offset are the line's own, and resuming from the position
before any line (as a stopped run stores it), after a resolved event or at the
end reads exactly the rest of the file, nothing skipped or read twice; and a
position whose line before it changed since (the file replaced by one with a
line boundary at the same offset) is refused, not resumed."""

from __future__ import annotations

import asyncio
import os
import tempfile
import zlib

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.decode import Decoder, chunk_after, decode_chunk, position_before
from cdcsink.errors import ConfigError
from cdcsink.source import BOM
from cdcsink.source.file import FileSource

_line = st.one_of(st.binary(max_size=12), st.binary(min_size=13, max_size=60)).map(lambda b: b.replace(b"\n", b"x"))


async def _read(path: str, position: dict | None, read_bytes: int, max_line_bytes: int) -> list:
    return (await _read_source(path, position, read_bytes, max_line_bytes))[0]


async def _read_source(path: str, position: dict | None, read_bytes: int, max_line_bytes: int) -> tuple[list, dict | None]:
    """The chunks read from ``position`` on, and the source's end position."""
    source = FileSource([path], read_bytes=read_bytes, max_line_bytes=max_line_bytes)
    return [chunk async for chunk in source.chunks(position)], source.end_position()


def _position(path: str, offset: int, line: int, before: bytes | None) -> dict:
    """The position after line number ``line``, whose bytes (with its newline, when it has one) are ``before``."""
    if before is None:
        return {"path": path, "offset": offset, "line": line}
    return {"path": path, "offset": offset, "line": line, "line_bytes": len(before), "line_crc32": zlib.crc32(before)}


def _changed_before(content: bytes, position: dict) -> bytes | None:
    """``content`` with one byte of the line before ``position`` changed and every line
    boundary kept (None when that line has no byte but its newline)."""
    offset, size = position["offset"], position.get("line_bytes", 0)
    for at in range(offset - size, offset):
        if content[at] != ord("\n"):
            other = content[at] ^ 1 if content[at] ^ 1 != ord("\n") else ord("y")
            return content[:at] + bytes([other]) + content[at + 1 :]
    return None


def _seen(chunks: list) -> list[tuple[bytes, bool]]:
    """Each line as read: its bytes (the kept head of an over-long one) and whether it was refused as over-long."""
    return [(line, chunk.invalid is not None) for chunk in chunks for line in chunk.lines]


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(_line, min_size=1, max_size=25),
    trailing_newline=st.booleans(),
    bom=st.booleans(),
    read_bytes=st.integers(1, 40),
    max_line_bytes=st.integers(1, 70),
    data=st.data(),
)
def test_positions_name_each_line_and_resuming_reads_exactly_the_rest(
    lines, trailing_newline, bom, read_bytes, max_line_bytes, data
):
    content = (BOM if bom else b"") + b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    # A byte order mark is skipped at the start of the file only: the first line starts after it.
    body_start = len(BOM) if content.startswith(BOM) else 0
    expected = content[body_start:].split(b"\n")
    if content.endswith(b"\n") or not expected[-1]:  # a newline ends its line; nothing follows it
        expected.pop()
    starts = [body_start + sum(len(line) + 1 for line in expected[:i]) for i in range(len(expected))]
    # An over-long line is read as its first max-line-bytes bytes (or fewer), refused.
    expected_seen = [
        (line[:max_line_bytes], True) if len(line) > max_line_bytes else (line, False) for line in expected
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.ndjson")
        with open(path, "wb") as f:
            f.write(content)
        chunks, end = asyncio.run(_read_source(path, None, read_bytes, max_line_bytes))
        assert _seen(chunks) == expected_seen
        if not expected:
            return
        # The position after the last line; it has a newline unless the file ends without one.
        assert end == _position(path, len(content), len(expected), content[starts[-1] :])
        numbered = [(chunk, i) for chunk in chunks for i in range(len(chunk.lines))]
        for n, (chunk, i) in enumerate(numbered):
            assert chunk.first_line + i == n + 1
            before = expected[n - 1] + b"\n" if n else None
            assert position_before(chunk, i) == _position(path, starts[n], n, before)
            if chunk.invalid is not None:  # alone in its chunk, which ends where the whole line ends
                assert len(chunk.lines) == 1 and f"line longer than {max_line_bytes} bytes" in chunk.invalid
                assert chunk.end_offset == min(starts[n] + len(expected[n]) + 1, len(content))

        # A stopped run stores the position before its first unsent line; a
        # resolved event the position after its own line (chunk_after's start).
        n = data.draw(st.integers(0, len(numbered)), label="resume before line index")
        if n == len(numbered):
            chunk = chunks[-1]
            position = position_before(chunk, len(chunk.lines))
        else:
            chunk, i = numbered[n]
            position = position_before(chunk, i)
        resume_read = data.draw(st.integers(1, 40), label="read size after restart")
        rest = asyncio.run(_read(path, position, resume_read, max_line_bytes))
        assert _seen(rest) == expected_seen[n:]
        if rest:
            assert rest[0].first_line == n + 1 and rest[0].start_offset == starts[n]
        chunk, i = numbered[data.draw(st.integers(0, len(numbered) - 1), label="resolved at line index")]
        after = chunk_after(chunk, i)
        resumed = asyncio.run(_read(path, position_before(chunk, i + 1), read_bytes, max_line_bytes))
        n = chunk.first_line + i  # lines up to and including it are done
        assert after.lines == chunk.lines[i + 1 :] and after.first_line == n + 1
        assert position_before(after, 0) == position_before(chunk, i + 1)
        assert _seen(resumed) == expected_seen[n:]
        assert asyncio.run(_read(path, end, read_bytes, max_line_bytes)) == []

        # The same file rewritten with one byte of the line before a stored position
        # changed (every line boundary where it was): refused, whatever the position.
        stored = data.draw(st.sampled_from([position, position_before(chunk, i + 1), end]), label="stored position")
        changed = _changed_before(content, stored)
        if changed is not None:
            with open(path, "wb") as f:
                f.write(changed)
            with pytest.raises(ConfigError, match="the file was replaced or changed since the checkpoint"):
                asyncio.run(_read(path, stored, read_bytes, max_line_bytes))


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.sampled_from([b"", b" ", b"\t ", b"\r"]), max_size=12),
    trailing_newline=st.booleans(),
    at=st.data(),
)
def test_a_resolved_events_position_fingerprints_its_own_line(lines, trailing_newline, at):
    """A resolved event (among blank lines, which are skipped) records the position after
    its own line, with that line's fingerprint, and resuming there reads the rest."""
    resolved = b'{"kind":"resolved","commit_ts":5}'
    index = at.draw(st.integers(0, len(lines)), label="resolved line index")
    lines.insert(index, resolved)
    content = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.ndjson")
        with open(path, "wb") as f:
            f.write(content)
        chunks = asyncio.run(_read(path, None, 7, 1000))
        events = [event for chunk in chunks for event in decode_chunk(Decoder(), chunk)[0]]
        assert len(events) == 1
        offset = sum(len(line) + 1 for line in lines[: index + 1])
        own = resolved + b"\n" if offset <= len(content) else resolved
        assert events[0].position == _position(path, min(offset, len(content)), index + 1, own)
        rest = asyncio.run(_read(path, events[0].position, 5, 1000))
        assert [line for chunk in rest for line in chunk.lines] == [line for chunk in chunks for line in chunk.lines][index + 1 :]
