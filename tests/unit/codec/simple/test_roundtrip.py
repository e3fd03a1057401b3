"""Every simple-protocol message cdcsink writes decodes, by TiCDC's consumer rules,
back to what it was written from: rows of tables of every supported type with
each type's edge values (NULL, empty, min/max, unsigned max, non-ASCII, every
byte), DDL and watermarks, with and without value compression, and rows that
go out in their reduced large-message form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.simple.decoder import SimpleDecoder
from cdcsink.codec.simple.encoder import SimpleEncoder
from cdcsink.errors import MessageDecodeError
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from tests.unit.codec.strategies import all_types_table, row_events, tables

COMPRESSIONS = st.sampled_from(["none", "none", "lz4", "snappy", "zstd"])
QUERIES = st.sampled_from([
    "CREATE TABLE t (id INT PRIMARY KEY)", "ALTER TABLE t ADD COLUMN x INT", "DROP TABLE t", "TRUNCATE TABLE t",
    "CREATE DATABASE d", "RENAME TABLE t TO u", "CREATE INDEX i ON t (x)", "insert 'é' <&> \u2028",
])


def assert_same_row(decoded: object, original: RowEvent) -> None:
    assert isinstance(decoded, RowEvent)
    assert (decoded.schema, decoded.table, decoded.commit_ts, decoded.op) == (
        original.schema, original.table, original.commit_ts, original.op)
    assert decoded.before == original.before
    assert decoded.after == original.after
    rebuilt, declared = decoded.table_info, original.table_info
    assert rebuilt.pk == declared.pk
    assert [c.name for c in rebuilt.columns] == [c.name for c in declared.columns]
    for column, again in zip(declared.columns, rebuilt.columns):
        assert (again.tp, again.type_name, again.unsigned, again.zerofill, again.binary, again.nullable,
                again.primary_key, again.elems, again.decimal or 0) == (
            column.tp, column.type_name, column.unsigned, column.zerofill, column.binary, column.nullable,
            column.primary_key, column.elems, column.decimal or 0)
        if column.flen is not None:
            assert again.flen == column.flen


@st.composite
def streams(draw: st.DrawFn) -> list[object]:
    """Rows of one or two tables with DDL and resolved events among them, in commit order."""
    chosen = draw(st.lists(st.one_of(tables(), st.just(all_types_table())), min_size=1, max_size=2))
    events: list[object] = draw(st.lists(
        st.one_of(*(row_events(t) for t in chosen), st.builds(lambda q: DDLEvent("db", "tbl", 0, q), QUERIES),
                  st.just(ResolvedEvent(0))),
        min_size=1, max_size=8,
    ))
    for ts, event in enumerate(events, 1):
        event.commit_ts = ts  # type: ignore[attr-defined]
    return events


@settings(max_examples=150, deadline=None)
@given(events=streams(), compression=COMPRESSIONS, every_rows=st.integers(1, 3))
def test_every_message_decodes_back_to_its_events(events, compression, every_rows):
    options = EncoderOptions("simple", large_message_handle_compression=compression,
                             send_bootstrap_in_msg_count=every_rows, clock_ms=lambda: 1_700_000_000_000)
    encoder, decoder = SimpleEncoder(options), SimpleDecoder(options)
    for event in events:
        messages = []
        if isinstance(event, RowEvent):
            bootstrap = encoder.bootstrap(event)
            if bootstrap is not None:
                messages.append(bootstrap)
            messages.append(encoder.encode_row(event))
        elif isinstance(event, DDLEvent):
            messages.append(encoder.encode_ddl(event))
        else:
            messages.append(encoder.encode_watermark(event.commit_ts))
        decoded = [again for key, value in messages for again in decoder.decode(key, value)]
        assert len(decoded) == 1
        (again,) = decoded
        if isinstance(event, RowEvent):
            assert_same_row(again, event)
        elif isinstance(event, DDLEvent):
            assert isinstance(again, DDLEvent)
            assert (again.schema, again.table, again.commit_ts, again.query) == (
                event.schema, event.table, event.commit_ts, event.query)
        else:
            assert isinstance(again, ResolvedEvent) and again.commit_ts == event.commit_ts


@settings(max_examples=50, deadline=None)
@given(event=row_events(all_types_table()), compression=COMPRESSIONS)
def test_a_row_of_every_type_decodes_back(event, compression):
    options = EncoderOptions("simple", large_message_handle_compression=compression)
    encoder, decoder = SimpleEncoder(options), SimpleDecoder(options)
    assert decoder.decode(*encoder.bootstrap(event)) == []
    (again,) = decoder.decode(*encoder.encode_row(event))
    assert_same_row(again, event)


@settings(max_examples=50, deadline=None)
@given(event=row_events(all_types_table()), handling=st.sampled_from(["handle-key-only", "claim-check"]))
def test_a_row_sent_reduced_decodes_to_its_handle_key_or_from_its_claim_check(event, handling, tmp_path_factory):
    directory = tmp_path_factory.mktemp("claims")
    options = EncoderOptions("simple", max_message_bytes=400, large_message_handle_option=handling,
                             claim_check_storage_uri=f"file://{directory}")
    encoder, decoder = SimpleEncoder(options), SimpleDecoder(options)
    decoder.decode(*SimpleEncoder(EncoderOptions("simple")).bootstrap(event))
    key, value = encoder.encode_row(event)
    assert b'"handleKeyOnly":true' in value
    (again,) = decoder.decode(key, value)
    if handling == "claim-check":
        assert_same_row(again, event)
    else:
        assert isinstance(again, RowEvent)
        keys = {"id"}
        assert again.after == (None if event.after is None else {k: v for k, v in event.after.items() if k in keys})
        assert again.before == (None if event.before is None else {k: v for k, v in event.before.items() if k in keys})


def test_a_row_before_its_table_schema_is_an_error_or_held_until_the_schema_comes():
    # ticdc pkg/sink/codec/simple/encoder_test.go:1305 TestEncodeDMLBeforeDDL: the row is held (NextDMLMessage
    # gives nil) and comes back once the message with its table schema is read.
    table = all_types_table()
    after = {c.name: None for c in table.columns if c.nullable} | {"id": 7}
    event = RowEvent("db", "all_types", 5, "insert", ["id"], {c.name: c.declared for c in table.columns}, None, after,
                     table_info=table)
    encoder = SimpleEncoder(EncoderOptions("simple"))
    bootstrap, row = encoder.bootstrap(event), encoder.encode_row(event)
    with pytest.raises(MessageDecodeError, match=r"no table schema for db\.all_types version \d+"):
        SimpleDecoder().decode(*row)
    holding = SimpleDecoder(hold_rows_without_schema=True)
    assert holding.decode(*row) == [] and holding.held == 1
    (released,) = holding.decode(*bootstrap)
    assert holding.held == 0
    assert_same_row(released, event)
