"""CDC messages as input: Kafka records written by TiCDC, Debezium, Maxwell (or
cdcsink) in one of the protocols :data:`cdcsink.codec.registry.PROTOCOLS` knows,
read as cdcsink events (``source.format`` of the kafka source, ``cdcsink consume``).

Each record goes through the protocol's decoder (TiCDC's consumer rules), then
through the rules every input follows, per input partition:

- a row or DDL must come after the partition's last resolved ts (as an NDJSON
  event must), else it is invalid input (reason ``order``);
- a watermark that goes back is dropped, as TiCDC's consumer drops it (an
  upstream that restarts may repeat an older one); an equal one is kept.

A message that carries no commit ts (canal-json without the TiDB extension)
gives commit_ts 0, as TiCDC's decoder does. Such a DDL is no barrier between
input partitions (see :class:`cdcsink.source.kafka.merge.PartitionMerger`), and
with no commit ts a copy cannot be told from a repeat: only partition 0's is
taken, as TiCDC's consumer takes every DDL (each protocol writes DDL there,
canal-json only there).

A record that does not decode is an :class:`~cdcsink.errors.InvalidEventError`
named ``topic[partition]@offset``, handled by ``source.on-invalid``. Each event
carries its record's offset as its ``line``.
"""

from __future__ import annotations

from typing import Any, Iterable

from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import InvalidEventError, MessageDecodeError
from cdcsink.events import DDLEvent, Event, ResolvedEvent, RowEvent

#: The NDJSON event format of cdcsink's own input.
NDJSON = "cdcsink"


def formats() -> tuple[str, ...]:
    """Every ``source.format``: cdcsink's NDJSON, then each protocol with a decoder."""
    from cdcsink.codec.registry import PROTOCOLS

    return (NDJSON, *PROTOCOLS)


def decoder_options(protocol: str, compression: str = "none") -> EncoderOptions:
    """What an input decoder is built with: canal-json's ``_tidb`` fields are read
    whenever a message has them (as TiCDC's consumer does with enable-tidb-extension)."""
    return EncoderOptions(protocol, enable_tidb_extension=True, large_message_handle_compression=compression)


class MessageReader:
    """Decodes one protocol's Kafka records into cdcsink events, with the input rules."""

    def __init__(self, protocol: str, compression: str = "none", decoder: Any = None) -> None:
        from cdcsink.codec.registry import build_decoder

        self.protocol = protocol
        self.compression = compression
        self.decoder = decoder if decoder is not None else build_decoder(decoder_options(protocol, compression))
        #: The decoder keeps table schemas from messages of their own (simple): a record
        #: may need one announced earlier in the topic (see :meth:`missing_schemas`).
        self.needs_context = hasattr(self.decoder, "learn")

    def fresh(self) -> "MessageReader":
        """A reader with no state of its own (reading back, apart from the stream)."""
        return MessageReader(self.protocol, self.compression)

    def decode(self, key: bytes | None, value: bytes | None, origin: str) -> list[Event]:
        """The events of one record, as the protocol's decoder gives them (an empty
        value too: the decoder knows whether its protocol has such records, like
        Debezium's tombstones)."""
        try:
            return self.decoder.decode(key, value)  # type: ignore[no-any-return]
        except (MessageDecodeError, ValueError) as error:
            raise InvalidEventError(origin, self._named(str(error)), value) from None
        except Exception as error:  # a message shaped in a way the decoder did not foresee
            raise InvalidEventError(origin, self._named(f"{type(error).__name__}: {error}"), value) from None

    def _named(self, reason: str) -> str:
        """The reason, saying which protocol's decoder refused the message."""
        return reason if reason.startswith(self.protocol) else f"{self.protocol}: {reason}"

    def decode_records(self, ordering: Any, chunk: Any, start: int = 0) -> tuple[list[Any], InvalidEventError | None]:
        """Decode a Kafka chunk's records from index ``start`` (as
        :func:`cdcsink.decode.decode_records` does NDJSON ones). ``ordering`` keeps
        the partition's resolved ts in ``last_resolved_ts``."""
        events: list[Any] = []
        origin, values, offsets = chunk.origin, chunk.lines, chunk.offsets
        keys = chunk.keys
        partition = chunk.input[1]
        for i in range(start, len(values)):
            offset = offsets[i]
            where = f"{origin}@{offset}"
            try:
                decoded = self.decode(keys[i], values[i], where)
                kept = _in_order(decoded, ordering, where, offset, partition)
            except InvalidEventError as error:
                error.index = i
                return events, error
            events.extend(kept)
        return events, None

    def missing_schemas(self, values: Iterable[bytes]) -> set[Any]:
        """The table schemas rows among ``values`` need and the reader has not seen
        (after taking every schema the values themselves announce)."""
        if not self.needs_context:
            return set()
        learn = self.decoder.learn
        needed = {key for key in map(learn, values) if key is not None}
        return {key for key in needed if not self.decoder.known(key)}

    def learn(self, value: bytes) -> None:
        """Take the table schemas a record announces (read back for a row that needs one)."""
        if self.needs_context:
            self.decoder.learn(value)

    def known(self, key: Any) -> bool:
        return bool(self.decoder.known(key)) if self.needs_context else True

    def resolved_of(self, key: bytes | None, value: bytes | None) -> tuple[int, int | None] | None:
        """``(commit_ts, commit_time_ms)`` when the record is a watermark, else None."""
        try:
            events = self.decoder.decode(key, value)
        except Exception:
            return None
        for event in events:
            if type(event) is ResolvedEvent:
                return event.commit_ts, event.commit_time_ms
        return None


def _in_order(events: list[Event], ordering: Any, where: str, offset: int, partition: int) -> list[Event]:
    """The events of one record under the input's ordering rules, each with its offset."""
    kept = []
    for event in events:
        last = ordering.last_resolved_ts
        if type(event) is ResolvedEvent:
            if event.commit_ts < last:
                continue  # a watermark that goes back: TiCDC's consumer ignores it too
            ordering.last_resolved_ts = event.commit_ts
        else:
            assert type(event) is RowEvent or type(event) is DDLEvent
            if event.commit_ts == 0 and partition != 0 and type(event) is DDLEvent:
                continue  # (no commit ts: the copy on partition 0 is the one taken)
            if last and event.commit_ts <= last:
                raise InvalidEventError(
                    where, f"commit_ts {event.commit_ts} is not after the resolved ts {last} already promised"
                )
        event.line = offset
        kept.append(event)
    return kept
