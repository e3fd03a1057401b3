"""Events written as NDJSON input read back, through the input decoder, as the
same events: rows of every supported type with edge values, as each protocol's
decoder rebuilds the table (so `cdcsink consume | cdcsink run` keeps them)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import build_decoder, build_encoder
from cdcsink.codec.schema import BIT, ENUM, SET
from cdcsink.decode import Decoder
from cdcsink.decode.render import column_declaration, event_line
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from tests.unit.codec.strategies import all_types_table, row_events


def assert_reads_back(event: RowEvent) -> None:
    again = Decoder().decode(event_line(event), "consume", 1)
    assert isinstance(again, RowEvent)
    assert (again.schema, again.table, again.commit_ts, again.op, again.pk) == (
        event.schema, event.table, event.commit_ts, event.op, list(event.table_info.pk))
    assert again.before == event.before and again.after == event.after
    for column, declared in zip(event.table_info.columns, again.table_info.columns):
        assert (declared.name, declared.nullable, declared.binary, declared.primary_key, declared.unique_key,
                declared.multiple_key) == (
            column.name, column.nullable, column.binary, column.primary_key, column.unique_key, column.multiple_key)
        if column.elems or column.tp not in (ENUM, SET):
            assert (declared.tp, declared.type_name, declared.elems, declared.unsigned) == (
                column.tp, column.type_name, column.elems, column.unsigned)
        else:  # members unknown: the index or bitmask as a number
            assert column_declaration(column) == "bigint unsigned"


@settings(max_examples=100, deadline=None)
@given(st.one_of(row_events(), row_events(all_types_table())))
def test_rows_as_the_input_declares_them_read_back(event):
    assert_reads_back(event)


def _through(protocol: str, event: RowEvent) -> RowEvent:
    options = EncoderOptions(protocol, enable_tidb_extension=True)
    encoder, decoder = build_encoder(options), build_decoder(options)
    messages = []
    bootstrap = getattr(encoder, "bootstrap", None)
    if bootstrap is not None and (message := bootstrap(event)) is not None:
        messages.append(message)
    messages += encoder.pack([encoder.encode_row(event)])
    (decoded,) = [again for key, value in messages for again in decoder.decode(key, value)]
    return decoded


def _readable(event: RowEvent) -> RowEvent:
    for image in (event.before, event.after):  # open-protocol's consumer reads bit values as int64
        for column in event.table_info.columns:
            if image is not None and column.tp == BIT and image.get(column.name) is not None:
                image[column.name] &= 2**63 - 1
    return event


@settings(max_examples=100, deadline=None)
@given(protocol=st.sampled_from(["canal-json", "open-protocol", "simple"]), event=row_events(all_types_table()))
def test_rows_as_each_protocol_rebuilds_them_read_back(protocol, event):
    assert_reads_back(_through(protocol, _readable(event)))


def test_enum_and_set_without_members_keep_their_numbers():
    table = all_types_table()
    after = {c.name: None for c in table.columns if c.nullable} | {"id": 1, "c40": 3, "c41": 5}
    event = RowEvent("db", "all_types", 9, "insert", ["id"], {}, None, after, table_info=table)
    decoded = _through("open-protocol", event)  # open-protocol carries no members
    enum = decoded.table_info.column("c40")
    assert enum is not None and column_declaration(enum) == "bigint unsigned"
    again = Decoder().decode(event_line(decoded), "consume", 1)
    assert again.after["c40"] == 3 and again.after["c41"] == 5


def test_ddl_and_resolved_lines():
    assert event_line(DDLEvent("s", "t", 5, "TRUNCATE TABLE t")) == (
        b'{"kind":"ddl","schema":"s","commit_ts":5,"query":"TRUNCATE TABLE t","table":"t"}')
    assert event_line(DDLEvent("s", None, 5, "CREATE DATABASE s", 1700)) == (
        b'{"kind":"ddl","schema":"s","commit_ts":5,"query":"CREATE DATABASE s","commit_time_ms":1700}')
    assert event_line(ResolvedEvent(7)) == b'{"kind":"resolved","commit_ts":7}'
    for line in (event_line(DDLEvent("s", "t", 5, "TRUNCATE TABLE t")), event_line(ResolvedEvent(7))):
        Decoder().decode(line, "consume", 1)
