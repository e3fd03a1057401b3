"""The line splitter: lines spanning many reads cost linear time, lines past
max-line-bytes are refused without being kept, a leading byte order mark is skipped."""

from __future__ import annotations

from cdcsink.decode import Decoder, chunk_after, decode_chunk, position_before
from cdcsink.source import BOM, TOO_LONG_KEPT_BYTES, LineSplitter


def test_a_line_spanning_many_reads_is_held_as_read_and_joined_once():
    """The unfinished line is not rebuilt on every read (that made one long line
    cost time quadratic in its length): the pieces are kept as read, then joined
    once, when the newline arrives."""
    splitter = LineSplitter("f")
    pieces = [bytes([65 + i % 26]) * 1000 for i in range(3000)]
    for piece in pieces:
        assert splitter.feed(piece) == []
    assert splitter.held_bytes == 3_000_000
    assert len(splitter._pieces) == len(pieces) and all(held is piece for held, piece in zip(splitter._pieces, pieces))
    [chunk] = splitter.feed(b"\nnext")
    assert chunk.lines == [b"".join(pieces)] and chunk.end_offset == 3_000_001
    assert splitter.held_bytes == 4 and splitter.finish().lines == [b"next"]


def test_an_over_long_line_is_dropped_as_it_is_read_and_refused_with_its_head():
    limit = 10_000
    splitter = LineSplitter("events.ndjson", max_line_bytes=limit)
    assert splitter.feed(b"first\n")[0].lines == [b"first"]
    long_line = b'{"kind":"row","note":"' + b"x" * 1_000_000 + b'"}'
    held = []
    chunks = []
    for at in range(0, len(long_line), 4096):
        chunks += splitter.feed(long_line[at : at + 4096])
        held.append(splitter.held_bytes)
    chunks += splitter.feed(b"\nlast\n")
    assert max(held) <= limit  # never the whole line in memory
    too_long, after = chunks
    assert too_long.invalid == f"line longer than {limit} bytes (it has {len(long_line)}; source.max-line-bytes)"
    assert too_long.lines == [long_line[:TOO_LONG_KEPT_BYTES]]
    assert (too_long.first_line, too_long.start_offset, too_long.end_offset) == (2, 6, 6 + len(long_line) + 1)
    assert after.lines == [b"last"] and after.first_line == 3 and after.start_offset == 6 + len(long_line) + 1

    # Decoded, it is an invalid line like any other: named file:line, its head as the raw text,
    # and the position just past it once it is set aside.
    events, invalid = decode_chunk(Decoder(), too_long)
    assert events == [] and invalid is not None and invalid.index == 0
    assert str(invalid) == f"events.ndjson:2: line longer than {limit} bytes (it has {len(long_line)}; source.max-line-bytes)"
    assert invalid.raw == long_line[:TOO_LONG_KEPT_BYTES]
    assert position_before(too_long, 0)["offset"] == 6
    assert chunk_after(too_long, 0).start_offset == too_long.end_offset


def test_over_long_lines_inside_one_read_are_cut_out_of_their_chunk():
    splitter = LineSplitter("f", max_line_bytes=1024)
    data = b"a\n" + b"y" * 3000 + b"\nb\nc\n" + b"z" * 1025
    first, too_long, rest = splitter.feed(data)
    assert first.lines == [b"a"] and (too_long.lines, too_long.first_line) == ([b"y" * 1024], 2)
    assert rest.lines == [b"b", b"c"] and rest.start_offset == 2 + 3001
    last = splitter.finish()  # the input ends inside an over-long line: no newline to count
    assert last.invalid and last.start_offset == 2 + 3001 + 4 and last.end_offset == len(data)


def test_a_byte_order_mark_is_skipped_at_the_start_only():
    splitter = LineSplitter("f")
    chunks = [c for b in BOM + b"one\n" + BOM + b"two\n" for c in splitter.feed(bytes([b]))]
    assert [c.lines for c in chunks] == [[b"one"], [BOM + b"two"]]
    assert chunks[0].start_offset == 3 and chunks[1].start_offset == 7
    # Resumed in the middle of the input, a mark is part of the line.
    assert LineSplitter("f", offset=7, line=1).feed(BOM + b"two\n")[0].lines == [BOM + b"two"]
    # An input shorter than a mark that only starts like one is a line.
    short = LineSplitter("f")
    assert short.feed(BOM[:2]) == [] and short.finish().lines == [BOM[:2]]
