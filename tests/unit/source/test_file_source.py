import asyncio
import zlib

import pytest

from cdcsink.errors import ConfigError
from cdcsink.source.file import FileSource


async def collect(source, position=None, limit=None):
    lines = []
    async for chunk in source.chunks(position):
        lines.extend((chunk.origin, chunk.first_line + i, l) for i, l in enumerate(chunk.lines))
        if limit and len(lines) >= limit:
            break
    return lines


async def test_reads_files_in_order_with_glob(tmp_path):
    (tmp_path / "b.ndjson").write_bytes(b"b1\nb2\n")
    (tmp_path / "a.ndjson").write_bytes(b"a1\na2")  # no trailing newline
    got = await collect(FileSource([str(tmp_path / "*.ndjson")], read_bytes=3))
    assert [l for _, _, l in got] == [b"a1", b"a2", b"b1", b"b2"]
    assert [n for _, n, _ in got] == [1, 2, 1, 2]


async def test_resume_from_position_skips_nothing(tmp_path):
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"l1\nl2\nl3\n")
    got = await collect(FileSource([str(f)]), {"path": str(f), "offset": 3, "line": 1})
    assert [(n, l) for _, n, l in got] == [(2, b"l2"), (3, b"l3")]


async def test_resume_position_checks(tmp_path):
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"l1\n")
    with pytest.raises(ConfigError, match="past the end of the file"):
        await collect(FileSource([str(f)]), {"path": str(f), "offset": 99, "line": 1})
    with pytest.raises(ConfigError, match="not among source.path"):
        await collect(FileSource([str(f)]), {"path": "/elsewhere", "offset": 0, "line": 0})


async def test_a_position_inside_a_line_means_the_file_changed(tmp_path):
    """A checkpoint's offset that no longer falls at a line start: the file was replaced
    since (rotated, regenerated). Refused with a reason, never read from mid-line."""
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"l1\nl2\n")
    checkpoint = {"path": str(f), "offset": 3, "line": 1}
    f.write_bytes(b"longer1\nlonger2\n")  # replaced: offset 3 is now inside line 1
    with pytest.raises(ConfigError, match=r"e.ndjson@3 \(after line 1\) is inside a line: the file was replaced or changed"):
        await collect(FileSource([str(f)]), checkpoint)


async def test_a_replaced_file_with_a_line_start_at_the_offset_is_refused(tmp_path):
    """A new file that happens to have a line boundary at the stored offset: the line
    before the offset is not the one read there, so the run stops at start rather
    than resume mid-file and never send the new file's first lines."""
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"l1\nl2\n")
    source = FileSource([str(f)])
    await collect(source)
    checkpoint = source.end_position()
    f.write_bytes(b"n1\nn2\nn3\n")  # replaced: offset 6 is a line start here too
    with pytest.raises(ConfigError) as refused:
        await collect(FileSource([str(f)]), checkpoint)
    assert str(refused.value) == (
        f"checkpoint position {f}@6 (after line 2) follows a line that is not the one read there before: "
        "the file was replaced or changed since the checkpoint; to read it from its start: cdcsink checkpoint reset"
    )
    f.write_bytes(b"l1\nl2\nl3\n")  # the same file, appended to
    assert [l for _, _, l in await collect(FileSource([str(f)]), checkpoint)] == [b"l3"]


async def test_a_position_stored_without_a_fingerprint_resumes_at_a_line_start(tmp_path):
    """Positions stored before they fingerprinted their line keep working (the line start check only)."""
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"n1\nn2\nn3\n")
    got = await collect(FileSource([str(f)]), {"path": str(f), "offset": 6, "line": 2})
    assert [(n, l) for _, n, l in got] == [(3, b"n3")]
    with pytest.raises(ConfigError, match="is not a file position"):
        await collect(FileSource([str(f)]), {"path": str(f), "offset": 6, "line": 2, "line_bytes": "3", "line_crc32": 1})


async def test_resuming_keeps_the_fingerprint_when_nothing_new_is_read(tmp_path):
    """A run that reads nothing past its start stores a position as strong as the one it started from."""
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"l1\nl2\n")
    first = FileSource([str(f)])
    await collect(first)
    again = FileSource([str(f)])
    assert await collect(again, first.end_position()) == []
    assert again.end_position() == first.end_position()


async def test_a_position_after_an_unterminated_last_line_resumes_once_the_line_ends(tmp_path):
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"l1\nl2")  # the writer had not ended the last line yet
    source = FileSource([str(f)])
    assert [l for _, _, l in await collect(source)] == [b"l1", b"l2"]
    with f.open("ab") as out:
        out.write(b"\nl3\n")
    got = await collect(FileSource([str(f)]), source.end_position())
    assert [l for _, _, l in got if l] == [b"l3"]


async def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        await collect(FileSource([str(tmp_path / "missing.ndjson")]))


async def test_end_position_after_full_read(tmp_path):
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"l1\nl2\n")
    source = FileSource([str(f)])
    await collect(source)
    assert source.end_position() == {"path": str(f), "offset": 6, "line": 2, "line_bytes": 3, "line_crc32": zlib.crc32(b"l2\n")}


async def test_follow_tails_appends_and_rotation(tmp_path):
    f = tmp_path / "e.ndjson"
    f.write_bytes(b"one\n")
    source = FileSource([str(f)], follow=True, poll_interval=0.01)
    got: list[bytes] = []

    async def reader():
        async for chunk in source.chunks(None):
            got.extend(chunk.lines)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.05)
    with f.open("ab") as out:
        out.write(b"tw")
    await asyncio.sleep(0.05)
    assert got == [b"one"]  # a partial line waits for its newline
    with f.open("ab") as out:
        out.write(b"o\n")
    await asyncio.sleep(0.05)
    rotated = tmp_path / "e.ndjson.new"
    rotated.write_bytes(b"three\n")
    rotated.replace(f)
    for _ in range(100):
        if len(got) >= 3:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert got == [b"one", b"two", b"three"]
    # The position now names the new file: a restart resumes in it, after "three".
    with f.open("ab") as out:
        out.write(b"four\n")
    resumed = FileSource([str(f)])
    assert [l for _, _, l in await collect(resumed, source.end_position())] == [b"four"]
