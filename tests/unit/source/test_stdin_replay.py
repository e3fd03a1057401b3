"""The stdin source keeps what a run read until a stored checkpoint covers it,
so a run started again in the same process replays it and nothing read is lost."""

from __future__ import annotations

import asyncio
import os
import zlib

from cdcsink.checkpoint.store import Checkpoint
from cdcsink.decode import position_before
from cdcsink.source.stdin import StdinSource

LINES = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * (i % 13)) for i in range(1, 301)]


async def take(source: StdinSource, position, count: int | None = None):
    """Up to ``count`` chunks of one run, then the run ends the way a failed one does: cancelled."""
    chunks = []

    async def run():
        async for chunk in source.chunks(position):
            chunks.append(chunk)
            if count is not None and len(chunks) == count:
                await asyncio.Event().wait()  # stuck, like a run waiting on a broker that is gone

    task = asyncio.create_task(run())
    if count is None:
        await asyncio.wait_for(task, 10)
    else:
        for _ in range(500):
            if len(chunks) >= count:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return chunks


def lines_of(chunks) -> list[bytes]:
    return [line for chunk in chunks for line in chunk.lines]


async def test_a_run_after_a_failed_one_replays_from_the_stored_checkpoint_and_reads_on():
    read_end, write_end = os.pipe()
    source = StdinSource(os.fdopen(read_end, "rb"), read_bytes=200)
    head = b"".join(line + b"\n" for line in LINES[:150])
    os.write(write_end, head)
    first = await take(source, None, count=4)
    assert len(first) == 4
    # The first two chunks were acknowledged and stored; the next two were read and lost with the run.
    stored = Checkpoint(7, position_before(first[1], len(first[1].lines)))
    source.stored_checkpoint(stored)
    covered = first[1].first_line + len(first[1].lines) - 1
    with os.fdopen(write_end, "wb") as rest:
        rest.write(b"".join(line + b"\n" for line in LINES[150:]))
    second = await take(source, stored.position)
    # Standard input was not closed between the runs, and nothing read was lost.
    assert lines_of(second) == LINES[covered:]
    assert second[0].first_line == covered + 1 and second[0].start_offset == stored.position["offset"]
    assert source.lines_read() == len(LINES)


async def test_a_checkpoint_inside_a_chunk_replays_from_that_line():
    read_end, write_end = os.pipe()
    source = StdinSource(os.fdopen(read_end, "rb"), read_bytes=4096)
    with os.fdopen(write_end, "wb") as out:
        out.write(b"".join(line + b"\n" for line in LINES[:40]))
    first = await take(source, None)
    assert len(first) == 1  # one chunk; a resolved event in it could store a position in its middle
    stored = Checkpoint(3, position_before(first[0], 17))
    source.stored_checkpoint(stored)
    assert lines_of(await take(source, stored.position)) == LINES[17:40]
    # Nothing stored at all: the whole pipe again.
    fresh = StdinSource(os.fdopen(os.open(os.devnull, os.O_RDONLY), "rb"))
    assert lines_of(await take(fresh, None)) == []


async def test_what_is_kept_is_bounded_by_the_stored_checkpoint_and_the_read_ahead():
    read_end, write_end = os.pipe()
    source = StdinSource(os.fdopen(read_end, "rb"), read_bytes=100, read_ahead=2)
    writer = asyncio.get_running_loop().run_in_executor(
        None, lambda: os.write(write_end, b"".join(line + b"\n" for line in LINES))
    )
    first = await take(source, None, count=3)
    await asyncio.sleep(0.1)
    # The run took 3 chunks and then stopped taking: the source reads at most 2 more.
    assert len(source._kept) <= 3 + 2
    source.stored_checkpoint(Checkpoint(1, position_before(first[2], len(first[2].lines))))
    assert len(source._kept) <= 2
    # A run that takes on reads the rest (and frees the writer).
    assert lines_of(await asyncio.wait_for(take_all_after_close(source, writer, write_end), 10))[-1] == LINES[-1]


async def take_all_after_close(source: StdinSource, writer, write_end: int):
    run = asyncio.create_task(take(source, source.stored.position))
    await writer
    os.close(write_end)
    return await run


async def test_a_file_redirected_to_stdin_is_read(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in LINES) + b'{"last":1}')  # no final newline
    with path.open("rb") as stream:
        source = StdinSource(stream, read_bytes=512)
        assert lines_of(await take(source, None)) == LINES + [b'{"last":1}']
    assert source.end_position() == {
        "path": "<stdin>",
        "offset": path.stat().st_size,
        "line": len(LINES) + 1,
        "line_bytes": len(b'{"last":1}'),
        "line_crc32": zlib.crc32(b'{"last":1}'),
    }
