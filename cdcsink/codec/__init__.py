"""Codecs: turn change events into Kafka messages (and back).

One folder per protocol (encoder, decoder and their wire helpers together);
``common/`` holds what protocols share; ``schema`` is the one table model
every codec reads; ``registry`` maps a protocol name to its encoder.

Every protocol implements :class:`Encoder`. The sink encodes each row as it
routes it (``encode_row``, while the event is fresh in memory) and buffers the
result per topic-partition; when it hands a partition's rows to the producer,
``pack`` turns them into messages: one per row for canal-json and debezium,
several rows per message for open-protocol and maxwell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, Sequence

if TYPE_CHECKING:  # events carry the codecs' table model, so they import codec.schema
    from cdcsink.events import DDLEvent, Event, RowEvent

Message = tuple[bytes | None, bytes]
"""A Kafka record as (key, value)."""


class Encoder(Protocol):
    """A message protocol. Implementations never emit a message larger than
    ``max_message_bytes`` (key + value): they raise
    :class:`cdcsink.errors.MessageTooLargeError` naming the event instead."""

    #: DDL messages go to every partition of the topic (True) or partition 0 (False).
    ddl_to_all_partitions: bool

    #: Protocols whose consumers learn a table's schema from messages of their own
    #: (simple's bootstrap messages): called once per row, in order, before the row
    #: is encoded, it gives the message to send to the row's topic ahead of the row,
    #: or None. The sink sends it, acknowledged, before the row can be handed over.
    #: Absent or None for protocols without such messages.
    bootstrap: Callable[[RowEvent], Message | None] | None
    #: Bootstrap messages go to every partition of the topic (True) or partition 0.
    bootstrap_to_all_partitions: bool

    def encode_row(self, event: RowEvent) -> Message:
        """Encode one row: a message (canal-json) or a packable entry (open-protocol)."""
        ...

    def pack(self, rows: list[Message]) -> list[Message]:
        """Messages for a run of encoded rows bound for one partition, in order."""
        ...

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        """``pack`` of ``encode_row`` of each event."""
        ...

    def encode_ddl(self, event: DDLEvent) -> Message | None:
        """Encode a DDL event; None when the protocol has no message for its kind
        (TiCDC skips it, and so does the sink)."""
        ...

    def encode_watermark(self, ts: int) -> Message | None:
        """Encode a resolved-ts watermark, or None if the protocol has none."""
        ...


class Decoder(Protocol):
    """Reads a protocol's messages back as TiCDC's kafka-consumer does: a
    message TiCDC's decoder refuses raises
    :class:`cdcsink.errors.MessageDecodeError` here too."""

    def decode(self, key: bytes | None, value: bytes) -> list[Event]:
        """The events in one Kafka message (rows carry a ``table_info`` rebuilt
        from what the message says about the table)."""
        ...
