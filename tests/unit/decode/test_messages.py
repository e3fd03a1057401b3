"""CDC messages as kafka-source input: each protocol's records become cdcsink
events under the input's ordering rules, and a record that does not decode is
invalid input named topic[partition]@offset."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import PROTOCOLS, build_encoder
from cdcsink.decode import Decoder, decode_records, reason_code
from cdcsink.decode.messages import MessageReader, formats
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent

COLUMNS = {"id": "int", "v": "varchar(8)"}


def row(ts: int, id_: int = 1) -> RowEvent:
    return RowEvent("s", "t", ts, "insert", ["id"], COLUMNS, None, {"id": id_, "v": "x"})


def chunk(messages, reader, first_offset=10):
    return SimpleNamespace(origin="in[2]", input=("in", 2), lines=[v for _, v in messages], keys=[k for k, _ in messages],
                           offsets=list(range(first_offset, first_offset + len(messages))), reader=reader)


def encoded(protocol: str, events) -> list[tuple]:
    encoder = build_encoder(EncoderOptions(protocol, enable_tidb_extension=True))
    out = []
    for event in events:
        if isinstance(event, RowEvent):
            bootstrap = getattr(encoder, "bootstrap", None)
            if bootstrap is not None and (message := bootstrap(event)) is not None:
                out.append(message)
            out += encoder.pack([encoder.encode_row(event)])
        elif isinstance(event, DDLEvent):
            out.append(encoder.encode_ddl(event))
        else:
            out.append(encoder.encode_watermark(event.commit_ts))
    return out


def test_every_decoder_is_a_source_format():
    assert formats() == ("cdcsink", *PROTOCOLS)
    assert {"canal-json", "open-protocol", "simple"} <= set(formats())


@pytest.mark.parametrize("protocol", ["canal-json", "open-protocol", "simple"])
def test_records_become_events_with_their_offsets(protocol):
    events = [row(5), DDLEvent("s", "t", 6, "ALTER TABLE t ADD COLUMN w INT"), ResolvedEvent(6), row(7, 2)]
    messages = encoded(protocol, events)
    ordering = Decoder()
    got, invalid = decode_records(ordering, chunk(messages, MessageReader(protocol)))
    assert invalid is None
    assert [(type(e).__name__, e.commit_ts) for e in got] == [
        ("RowEvent", 5), ("DDLEvent", 6), ("ResolvedEvent", 6), ("RowEvent", 7)]
    # Each event carries the offset of its record (simple's bootstrap record gives none).
    assert [e.line for e in got] == [10 + i for i, (_, value) in enumerate(messages) if b"BOOTSTRAP" not in value]
    assert got[0].after == {"id": 1, "v": "x"} and ordering.last_resolved_ts == 6


def test_a_row_at_or_below_the_partitions_resolved_ts_is_invalid_and_a_watermark_going_back_is_dropped():
    messages = encoded("simple", [ResolvedEvent(10), ResolvedEvent(4), row(10)])
    got, invalid = decode_records(Decoder(), chunk(messages, MessageReader("simple")))
    assert [(type(e).__name__, e.commit_ts) for e in got] == [("ResolvedEvent", 10)]
    assert invalid is not None and invalid.index == 3  # the bootstrap before the row is record 2
    assert str(invalid) == "in[2]@13: commit_ts 10 is not after the resolved ts 10 already promised"
    assert reason_code(invalid.reason) == "order"


@pytest.mark.parametrize(("protocol", "value", "reason"), [
    ("canal-json", b"not json", "canal-json message is not JSON"),
    ("open-protocol", b"{}", "open-protocol: not an open-protocol message: the key has no version header"),
    ("simple", b'{"version":1,"database":"s","table":"t","type":"INSERT","schemaVersion":3,"data":{"id":"1"}}',
     "simple: no table schema for s.t version 3"),
])
def test_a_record_that_does_not_decode_is_invalid_input_named_by_its_offset(protocol, value, reason):
    got, invalid = decode_records(Decoder(), chunk([(None, value)], MessageReader(protocol), 41))
    assert got == [] and invalid is not None and invalid.index == 0
    assert str(invalid).startswith(f"in[2]@41: {reason}")
    assert invalid.raw == value


def test_rows_name_the_table_schema_they_need_until_it_is_learnt():
    messages = encoded("simple", [row(5)])  # bootstrap, row
    reader = MessageReader("simple")
    (needed,) = reader.missing_schemas([messages[1][1]])
    assert needed[:2] == ("s", "t")
    reader.learn(messages[0][1])
    assert reader.known(needed) and reader.missing_schemas([messages[1][1]]) == set()
    assert MessageReader("simple").missing_schemas([v for _, v in messages]) == set()  # announced in the same batch


def test_since_takes_a_time_ms_or_a_duration_before_now():
    from cdcsink.consume import parse_since
    from cdcsink.errors import ConfigError

    now = 1_700_000_000_000
    assert parse_since("15m", now) == now - 15 * 60_000
    assert parse_since("1d", now) == now - 86_400_000
    assert parse_since("1700000000123", now) == 1_700_000_000_123
    assert parse_since("2023-11-14T22:13:20Z", now) == 1_700_000_000_000
    assert parse_since("2023-11-14 23:13:20+01:00", now) == 1_700_000_000_000
    assert parse_since("2023-11-14 22:13:20", now) == 1_700_000_000_000  # no zone: UTC
    with pytest.raises(ConfigError, match="--since: 'yesterday' is not a time"):
        parse_since("yesterday", now)


def test_a_ddl_without_a_commit_ts_is_taken_from_partition_0_only():
    # Without a commit ts a copy cannot be told from a repeat; TiCDC's consumer takes DDL from partition 0 only
    # (ticdc cmd/kafka-consumer/writer.go:362), where every protocol writes it.
    messages = encoded("open-protocol", [DDLEvent("s", "t", 0, "TRUNCATE TABLE t")])
    on_zero, _ = decode_records(Decoder(), SimpleNamespace(origin="in[0]", input=("in", 0), lines=[messages[0][1]],
                                                           keys=[messages[0][0]], offsets=[3], reader=MessageReader("open-protocol")))
    on_two, _ = decode_records(Decoder(), chunk(messages, MessageReader("open-protocol")))
    assert [e.query for e in on_zero] == ["TRUNCATE TABLE t"] and on_two == []
