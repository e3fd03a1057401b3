"""The ``file`` source: one or more NDJSON files or a glob, read in order.

With ``follow: false`` it reads to the end of the last file and stops. With
``follow: true`` it tails the last file like ``tail -F`` (a replaced or
truncated file is reopened from its start) and, for a glob, moves on to new
files that sort after the current one.
"""

from __future__ import annotations

import asyncio
import glob
import os
import zlib
from typing import TYPE_CHECKING, Any, AsyncIterator

import structlog

from cdcsink.errors import ConfigError
from cdcsink.source import BOM, DEFAULT_MAX_LINE_BYTES, Chunk, Fingerprint, LineSplitter
from cdcsink.source.lines import LineIntake, LineSource

if TYPE_CHECKING:
    from cdcsink.source.config import SourceConfig

log = structlog.get_logger("cdcsink.source.file")

_GLOB_CHARS = frozenset("*?[")


def _is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def _at_line_start(path: str, offset: int) -> bool:
    """A stored offset follows a newline or the file's byte order mark, or ends a last
    line that had no newline then (and has one now)."""
    try:
        with open(path, "rb") as f:
            if offset == len(BOM) and f.read(len(BOM)) == BOM:
                return True
            f.seek(offset - 1)
            around = f.read(2)
    except OSError:
        return True  # reading it will say what is wrong
    return around[:1] == b"\n" or around[1:2] == b"\n"


def _ends_with_line(path: str, offset: int, fingerprint: Fingerprint) -> bool:
    """Whether the bytes of ``path`` before ``offset`` end with the line of ``fingerprint``
    (read in pieces: a line may be as long as source.max-line-bytes)."""
    size, expected = fingerprint
    if size > offset:
        return False
    crc = 0
    try:
        with open(path, "rb") as f:
            f.seek(offset - size)
            left = size
            while left:
                piece = f.read(min(left, 1 << 20))
                if not piece:
                    return False
                crc = zlib.crc32(piece, crc)
                left -= len(piece)
    except OSError:
        return True  # reading it will say what is wrong
    return crc == expected


def _stored_fingerprint(position: dict[str, Any]) -> Fingerprint | None:
    """The fingerprint of the line before a stored position (None in positions stored before they had one)."""
    size, crc = position.get("line_bytes"), position.get("line_crc32")
    if size is None and crc is None:
        return None
    if type(size) is not int or type(crc) is not int or size < 0 or not 0 <= crc < 2**32:
        raise ConfigError(f"checkpoint position {position!r} is not a file position (line_bytes, line_crc32)")
    return size, crc


class FileSource(LineSource):
    def __init__(
        self,
        paths: list[str],
        *,
        follow: bool = False,
        poll_interval: float = 0.01,
        read_bytes: int = 256 * 1024,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.patterns = paths
        self.follow = follow
        self.poll_interval = poll_interval
        self.read_bytes = read_bytes
        self.max_line_bytes = max_line_bytes
        self.description = "file:" + ",".join(paths)
        self._position: dict[str, Any] | None = None
        self._intake = LineIntake(self.end_position)

    @classmethod
    def from_config(cls, config: "SourceConfig", client_id: str = "cdcsink") -> "FileSource":
        return cls(config.path, follow=config.follow, poll_interval=config.poll_interval, max_line_bytes=config.max_line_bytes)

    def files(self) -> list[str]:
        """The input files in processing order: list order, each glob sorted."""
        found: list[str] = []
        for pattern in self.patterns:
            if _is_glob(pattern):
                found.extend(sorted(glob.glob(pattern)))
            elif os.path.exists(pattern) or self.follow:
                found.append(pattern)
            else:
                raise ConfigError(f"source.path: {pattern}: no such file")
        return found

    def end_position(self) -> dict[str, Any] | None:
        return self._position

    async def chunks(self, position: dict[str, Any] | None) -> AsyncIterator[Chunk]:
        files = self.files()
        if not files and not self.follow:
            raise ConfigError(f"source.path: no file matches {', '.join(self.patterns)}")
        index, offset, line, tail = self._resume(files, position)
        while True:
            if index < len(files):
                path = files[index]
                last = index == len(files) - 1
                async for chunk in self._read(path, offset, line, tail, follow=self.follow and last, files=files):
                    yield chunk
                offset = line = 0
                tail = None
                index += 1
                continue
            if not self.follow:
                return
            await asyncio.sleep(self.poll_interval)
            files = self._refresh(files)

    def _refresh(self, files: list[str]) -> list[str]:
        """Files that appeared after the current ones (a glob in follow mode)."""
        current = files[-1] if files else ""
        newer = [f for f in self.files() if f > current and f not in files]
        return files + newer

    def _resume(self, files: list[str], position: dict[str, Any] | None) -> tuple[int, int, int, Fingerprint | None]:
        """Where a run starting at a stored ``position`` reads from: the file's index, the
        offset and line number in it, and the fingerprint of the line before the offset.

        The file must still be the one the position was taken in: the offset within
        its size and at a line start, and the line before it the one read then."""
        if not position:
            return 0, 0, 0, None
        path, offset, line = position.get("path"), position.get("offset"), position.get("line", 0)
        if not isinstance(path, str) or not isinstance(offset, int):
            raise ConfigError(f"checkpoint position {position!r} is not a file position")
        tail = _stored_fingerprint(position)
        if path in files:
            index = files.index(path)
        elif any(_is_glob(p) for p in self.patterns):
            # An already processed file may have been removed: resume at the first later one.
            later = [i for i, f in enumerate(files) if f > path]
            if not later:
                return len(files), 0, 0, None
            return later[0], 0, 0, None
        else:
            raise ConfigError(f"checkpoint position names {path}, which is not among source.path")
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        if offset > size:
            raise ConfigError(
                f"checkpoint position {path}@{offset} is past the end of the file ({size} bytes): "
                "the file was replaced or truncated since the checkpoint"
            )
        if 0 < offset < size and not _at_line_start(path, offset):
            raise ConfigError(
                f"checkpoint position {path}@{offset} (after line {line}) is inside a line: the file was replaced "
                "or changed since the checkpoint; to read it from its start: cdcsink checkpoint reset"
            )
        if offset > 0 and tail is not None and not _ends_with_line(path, offset, tail):
            raise ConfigError(
                f"checkpoint position {path}@{offset} (after line {line}) follows a line that is not the one read "
                "there before: the file was replaced or changed since the checkpoint; to read it from its start: "
                "cdcsink checkpoint reset"
            )
        return index, offset, int(line), tail

    async def _read(
        self, path: str, offset: int, line: int, tail: Fingerprint | None, *, follow: bool, files: list[str]
    ) -> AsyncIterator[Chunk]:
        splitter = LineSplitter(path, offset, line, self.max_line_bytes, tail)
        handle = await self._open(path, follow)
        try:
            handle.seek(offset)
            while True:
                data = handle.read(self.read_bytes)
                if data:
                    for chunk in splitter.feed(data):
                        self._position = splitter.position()
                        yield chunk
                    continue
                if not follow:
                    break
                reopened = self._reopen_if_rotated(path, handle, splitter)
                if reopened is not None:
                    handle.close()
                    handle = reopened
                    continue
                if any(_is_glob(p) for p in self.patterns) and self._refresh(files) != files:
                    break
                await asyncio.sleep(self.poll_interval)
            last = splitter.finish()
            if last is not None:
                self._position = splitter.position()
                yield last
            self._position = splitter.position()
        finally:
            handle.close()

    async def _open(self, path: str, follow: bool):
        while True:
            try:
                return open(path, "rb")
            except FileNotFoundError:
                if not follow:
                    raise ConfigError(f"source.path: {path}: no such file") from None
                await asyncio.sleep(self.poll_interval)
            except OSError as error:
                raise ConfigError(f"source.path: {path}: {error.strerror}") from None

    def _reopen_if_rotated(self, path: str, handle, splitter: LineSplitter):
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        if stat.st_ino != os.fstat(handle.fileno()).st_ino or stat.st_size < splitter.offset:
            log.warning("input file replaced or truncated; reading it from the start", path=path)
            splitter.__init__(path, 0, 0, self.max_line_bytes)  # type: ignore[misc]
            return open(path, "rb")
        return None
