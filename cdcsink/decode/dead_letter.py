"""Where invalid input lines go with ``source.on-invalid: dead-letter``.

A line is set aside (awaited: acknowledged by Kafka, or written and flushed to
the file) before the pipeline moves past it, so the checkpoint never passes a
line that was neither processed nor set aside.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import orjson

from cdcsink.durable import ensure_writable_directory
from cdcsink.errors import InvalidEventError
from cdcsink.kafka import SyncProducer
from cdcsink.kafka.topics import TopicManager


class DeadLetter(Protocol):
    description: str

    async def put(self, error: InvalidEventError) -> None: ...


class KafkaDeadLetter:
    """The raw line as the message value; ``reason`` and ``origin`` as headers."""

    def __init__(self, topic: str, producer: SyncProducer, topics: TopicManager) -> None:
        self.topic = topic
        self.description = f"topic {topic}"
        self._producer = producer
        self._topics = topics

    async def put(self, error: InvalidEventError) -> None:
        await self._topics.partitions(self.topic)
        headers = [("reason", error.reason.encode()), ("origin", error.origin.encode())]
        await self._producer.send_message(self.topic, 0, None, error.raw or b"", headers)


class FileDeadLetter:
    """One JSON line per invalid input line: origin, reason and the raw line."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.description = f"file {path}"

    def check_writable(self) -> None:
        """At start: a target that cannot be written would stop the run at the first invalid line."""
        ensure_writable_directory(self.path.parent, "source.dead-letter")

    def _append(self, record: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as out:
            out.write(record)
            out.flush()
            os.fsync(out.fileno())

    async def put(self, error: InvalidEventError) -> None:
        raw = error.raw or b""
        record = orjson.dumps(
            {"origin": error.origin, "reason": error.reason, "raw": raw.decode(errors="replace")},
            option=orjson.OPT_APPEND_NEWLINE,
        )
        await asyncio.to_thread(self._append, record)


def dead_letter_file(target: str | None) -> FileDeadLetter | None:
    """The file a ``file://`` target names (None for a Kafka topic)."""
    if target is not None and target.startswith("file://"):
        parts = urlsplit(target)
        return FileDeadLetter(unquote(parts.netloc + parts.path))
    return None


def open_dead_letter(target: str | None, default_topic: str, producer: SyncProducer, topics: TopicManager) -> DeadLetter:
    return dead_letter_file(target) or KafkaDeadLetter(target or f"{default_topic}-dlq", producer, topics)
