"""File positions against the file itself (hypothesis): whatever the lines
(empty ones, a last one without a newline) and however the reads cut them,
each chunk line's number and offset are the line's own, and resuming from the
position before any line (as a stopped run stores it) or after a resolved
event reads exactly the rest of the file, nothing skipped or read twice."""

from __future__ import annotations

import asyncio
import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.decode import chunk_after, position_before
from cdcsink.source.file import FileSource

_line = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x"))


async def _read(path: str, position: dict | None, read_bytes: int) -> list:
    source = FileSource([path], read_bytes=read_bytes)
    return [chunk async for chunk in source.chunks(position)]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_line, min_size=1, max_size=25),
    trailing_newline=st.booleans(),
    read_bytes=st.integers(1, 40),
    data=st.data(),
)
def test_positions_name_each_line_and_resuming_reads_exactly_the_rest(lines, trailing_newline, read_bytes, data):
    content = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    if not content:
        return
    expected = content.split(b"\n")
    if content.endswith(b"\n"):  # a newline ends its line; nothing follows it
        expected.pop()
    starts = [sum(len(line) + 1 for line in expected[:i]) for i in range(len(expected))]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.ndjson")
        with open(path, "wb") as f:
            f.write(content)
        chunks = asyncio.run(_read(path, None, read_bytes))
        assert [line for chunk in chunks for line in chunk.lines] == expected
        numbered = [(chunk, i) for chunk in chunks for i in range(len(chunk.lines))]
        for n, (chunk, i) in enumerate(numbered):
            assert chunk.first_line + i == n + 1
            assert position_before(chunk, i) == {"path": path, "offset": starts[n], "line": n}

        # A stopped run stores the position before its first unsent line; a
        # resolved event the position after its own line (chunk_after's start).
        n = data.draw(st.integers(0, len(numbered)), label="resume before line index")
        if n == len(numbered):
            chunk = chunks[-1]
            position = position_before(chunk, len(chunk.lines))
        else:
            chunk, i = numbered[n]
            position = position_before(chunk, i)
        rest = asyncio.run(_read(path, position, data.draw(st.integers(1, 40), label="read size after restart")))
        assert [line for c in rest for line in c.lines] == expected[n:]
        if rest:
            assert rest[0].first_line == n + 1 and rest[0].start_offset == starts[n]
        chunk, i = numbered[data.draw(st.integers(0, len(numbered) - 1), label="resolved at line index")]
        after = chunk_after(chunk, i)
        resumed = asyncio.run(_read(path, position_before(chunk, i + 1), read_bytes))
        n = chunk.first_line + i  # lines up to and including it are done
        assert after.lines == chunk.lines[i + 1 :] and after.first_line == n + 1
        assert [line for c in resumed for line in c.lines] == expected[n:]
