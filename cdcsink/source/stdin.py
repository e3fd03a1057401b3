"""The ``stdin`` source: NDJSON events on standard input, until it closes.

Standard input cannot be rewound, so a stored position is not used to skip
anything: whatever is piped in after a restart is processed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, AsyncIterator, BinaryIO

from cdcsink.source import DEFAULT_MAX_LINE_BYTES, Chunk, LineSplitter

ORIGIN = "<stdin>"


class StdinSource:
    description = "stdin"

    def __init__(
        self, stream: BinaryIO | None = None, read_bytes: int = 256 * 1024, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> None:
        self._stream = stream
        self.read_bytes = read_bytes
        self._splitter = LineSplitter(ORIGIN, max_line_bytes=max_line_bytes)

    def end_position(self) -> dict[str, Any] | None:
        return self._splitter.position()

    async def chunks(self, position: dict[str, Any] | None) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self.read_bytes * 4)
        stream = self._stream if self._stream is not None else sys.stdin.buffer
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stream)
        try:
            while data := await reader.read(self.read_bytes):
                for chunk in self._splitter.feed(data):
                    yield chunk
            last = self._splitter.finish()
            if last is not None:
                yield last
        finally:
            transport.close()
