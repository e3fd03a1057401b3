"""A one-line progress display for one-shot runs on a terminal.

Shown only when stderr is a TTY and the source does not follow its input;
otherwise nothing extra is written. It is drawn through the log stream, which
clears it before each log line and draws it again below, so log lines and the
progress line never overwrite each other.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, TextIO

from cdcsink.logs import LogStream, log_stream

if TYPE_CHECKING:
    from cdcsink.config import Settings
    from cdcsink.pipeline import Pipeline


class Progress:
    def __init__(self, pipeline: "Pipeline", stream: LogStream, interval: float = 0.5) -> None:
        self.pipeline = pipeline
        self.stream = stream
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    @classmethod
    def start_if_terminal(cls, pipeline: "Pipeline", settings: "Settings", stream: TextIO | None = None) -> "Progress | None":
        out = log_stream() if stream is None else LogStream(stream)
        if (settings.source.type == "file" and settings.source.follow) or settings.source.type in ("kafka", "postgres"):
            return None  # a run that does not end by itself
        if not out.isatty():
            return None
        progress = cls(pipeline, out)
        progress._task = asyncio.get_running_loop().create_task(progress._loop())
        return progress

    def line(self) -> str:
        sink = self.pipeline.sink
        rows = sink.stats.rows_acked if sink else 0
        elapsed = max(time.monotonic() - self._started, 1e-9)
        checkpoint = self.pipeline.checkpointer.written_ts if self.pipeline.checkpointer else None
        return f"rows acked {rows:,}  {rows / elapsed:,.0f}/s  checkpoint {checkpoint if checkpoint is not None else '-'}"

    async def _loop(self) -> None:
        while True:
            self.stream.show_status(self.line())
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self.stream.end_status(self.line())
