"""Encode: turn change events into Kafka messages.

Every protocol implements :class:`Encoder`. Row events reach the encoder in
per-partition runs (the sink buffers them per topic-partition), so batching
protocols such as open-protocol can pack several rows into one message while
one-row protocols such as canal-json emit one message per row.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from cdcsink.events import DDLEvent, RowEvent

Message = tuple[bytes | None, bytes]
"""A Kafka record as (key, value)."""


class Encoder(Protocol):
    """A message protocol. Implementations never emit a message larger than
    ``max_message_bytes`` (key + value): they raise
    :class:`cdcsink.errors.MessageTooLargeError` naming the event instead."""

    #: DDL messages go to every partition of the topic (True) or partition 0 (False).
    ddl_to_all_partitions: bool

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        """Encode a run of row events bound for one partition, in order."""
        ...

    def encode_ddl(self, event: DDLEvent) -> Message:
        """Encode a DDL event."""
        ...

    def encode_watermark(self, ts: int) -> Message | None:
        """Encode a resolved-ts watermark, or None if the protocol has none."""
        ...
