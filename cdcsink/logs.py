"""Structured logs: JSON lines for containers, key=value for a terminal."""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

#: Back to the start of the terminal line, and erase it.
CLEAR_LINE = "\r\x1b[2K"


class LogStream:
    """Where log lines go (stderr), with room for one status line below them.

    A status line (the progress display on a terminal) has no newline, so a
    log line written after it would continue it. Here each log line first
    clears the status line, and the status line is drawn again below it.
    Writes are gathered until a newline, so a line written in parts (as
    ``print`` does) is still one line.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._status = ""
        self._partial = ""
        self._lock = threading.Lock()  # a client library may log from its own thread

    def isatty(self) -> bool:
        return self.stream.isatty()

    def write(self, text: str) -> int:
        with self._lock:
            if not self._status:
                return self.stream.write(text)
            text = self._partial + text
            cut = text.rfind("\n") + 1
            self._partial = text[cut:]
            if cut:
                self.stream.write(CLEAR_LINE + text[:cut] + self._status)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def show_status(self, line: str) -> None:
        """Draw ``line`` as the status line (in place of the previous one)."""
        with self._lock:
            self._status = line
            self.stream.write(CLEAR_LINE + line)
            self.stream.flush()

    def end_status(self, line: str) -> None:
        """Draw ``line`` a last time and leave it above what follows."""
        with self._lock:
            self._status = ""
            self.stream.write(CLEAR_LINE + line + "\n" + self._partial)
            self._partial = ""
            self.stream.flush()


_stream: LogStream | None = None


def log_stream() -> LogStream:
    """The stream log lines are written to: stderr, through the configured LogStream."""
    return _stream if is_configured() else LogStream(sys.stderr)  # type: ignore[return-value]


def is_configured() -> bool:
    """Whether :func:`configure_logging` set up the logs for the current stderr."""
    return _stream is not None and _stream.stream is sys.stderr


def _json_line(event: dict[str, Any], **options: Any) -> str:
    """One log line as JSON, whatever its fields hold: keys that JSON has no form
    for (a Kafka source's position is keyed by (topic, partition)) are written
    as text, other values by ``repr``."""
    options["default"] = repr
    try:
        return json.dumps(event, **options)
    except TypeError:
        return json.dumps(_text_keys(event), **options)


def _text_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _text_keys(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_text_keys(item) for item in value]
    return value


def configure_logging(format: str = "console", level: str = "info", changefeed: str | None = None) -> None:
    """Configure structlog (and the stdlib loggers of the client libraries) to write to stderr."""
    global _stream
    stream = _stream = LogStream(sys.stderr)
    renderer: structlog.types.Processor
    if format == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json_line)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    if changefeed is not None:
        structlog.contextvars.bind_contextvars(changefeed=changefeed)
    # Client libraries log through the stdlib; keep them quiet unless asked, and
    # render their lines like ours (one JSON object per line in json format).
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*processors, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if level == "debug" else logging.ERROR)
