"""Every debezium message cdcsink writes decodes back to the event it was written
from, as far as the message keeps it: rows of every supported type with edge
values (NULL, empty, extremes, unsigned maxima, non-ASCII, every byte), under
each option that changes the message, and DDL and watermark events.

What a message does not keep (README, "debezium messages"): with a schema and
``enable-tidb-extension`` a decimal is a double, a datetime keeps its instant
(not its fsp), a timestamp before 1970-01-01 00:00:01 is the epoch; without
``tidb_type`` the Connect schema also loses the sign of bigint unsigned and
sends binary strings as base64 text; without a schema only the JSON values
remain.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.codec.common.golang import format_float32, format_float64
from cdcsink.codec.debezium.decoder import DebeziumDecoder
from cdcsink.codec.debezium.encoder import DebeziumEncoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, LONGLONG, NEWDECIMAL, SET, TIMESTAMP, Column,
)
from cdcsink.events import INSERT, UPDATE, DDLEvent, ResolvedEvent, RowEvent
from tests.unit.codec.strategies import all_types_table, row_events

OPTIONS = st.builds(
    lambda extension, no_schema, old_value, compression: EncoderOptions(
        "debezium", enable_tidb_extension=extension, debezium_disable_schema=no_schema,
        debezium_output_old_value=old_value, large_message_handle_compression=compression,
        cluster_id="cf", clock_ms=lambda: 1_700_000_000_000,
    ),
    st.booleans(), st.booleans(), st.booleans(), st.sampled_from(["none", "none", "lz4"]),
)


def _micros(text: str) -> tuple[str, int]:
    """(date and seconds, microseconds) of a datetime or time text, whatever its fsp."""
    whole, _, fraction = text.partition(".")
    return whole, int(fraction.ljust(6, "0"))


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json_number(text: str) -> Any:
    return json.loads(text)


def kept(level: str, column: Column, value: Any) -> Any:
    """What a value becomes after a round trip at ``level``: ``typed`` (schema with
    tidb_type), ``connect`` (schema without it), ``bare`` (no schema)."""
    if value is None:
        return None
    tp = column.tp
    if tp == LONGLONG and column.unsigned and level != "typed":
        return value - 2**64 if value >= 2**63 else value
    if tp == NEWDECIMAL:
        return float(value)  # sent as a double (compared by number; see below)
    if tp in (DATETIME, DURATION):
        return _micros(value)
    if tp == TIMESTAMP:
        utc = "1970-01-01 00:00:00" if value < "1970-01-01 00:00:01" else value
        return utc.replace(" ", "T") + "Z" if level == "bare" else utc
    if level == "bare":
        if tp == BIT:
            return value if (column.flen or 1) == 1 else _base64(value.to_bytes(8, "little")[: ((column.flen or 1) + 7) // 8])
        if tp == FLOAT:
            return _json_number(format_float32(value))
        if tp == DOUBLE:
            return _json_number(format_float64(value))
        if tp == DATE:
            from datetime import date

            return (date.fromisoformat(value) - date(1970, 1, 1)).days
        if tp == ENUM:
            return column.elems[value - 1]
        if tp == SET:
            return ",".join(m for bit, m in enumerate(column.elems) if value >> bit & 1)
    if column.binary and (tp in CHARS or tp in BLOBS) and level != "typed":
        return _base64(value)
    return value


def comparable(level: str, column: Column, value: Any) -> Any:
    """The decoded value in the form :func:`kept` gives."""
    if value is None:
        return None
    tp = column.tp
    if tp == NEWDECIMAL:
        assert type(value) is str and "e" not in value.lower() or level != "typed"
        return float(value)
    if level == "bare" and tp in (DATETIME, DURATION):
        return value  # a bare number: compared below
    if tp in (DATETIME, DURATION):
        return _micros(value)
    return value


def check(options: EncoderOptions, event: RowEvent) -> None:
    key, value = DebeziumEncoder(options).encode_row(event)
    (decoded,) = DebeziumDecoder(options).decode(key, value)
    assert isinstance(decoded, RowEvent)
    level = "bare" if options.debezium_disable_schema else ("typed" if options.enable_tidb_extension else "connect")
    assert (decoded.schema, decoded.table, decoded.commit_ts) == (event.schema, event.table, event.commit_ts)
    assert decoded.table_info.pk == event.table_info.pk
    op, before = event.op, event.before
    if op == UPDATE and not options.debezium_output_old_value:
        op, before = INSERT, None  # TiCDC's decoder reads an update without before as an insert
    assert decoded.op == op
    for got, want in ((decoded.before, before), (decoded.after, event.after)):
        if want is None:
            assert got is None
            continue
        assert list(got) == list(want)
        for column in event.table_info.columns:
            expected = kept(level, column, want[column.name])
            actual = comparable(level, column, got[column.name])
            if level == "bare" and column.tp in (DATETIME, DURATION) and expected is not None:
                whole, micros = expected
                # a bare datetime is ms or µs since the epoch, a time µs; compare through the typed decoder
                typed = DebeziumDecoder().decode(None, _typed_doc(column, actual))[0].after["c"]  # type: ignore[union-attr]
                actual = _micros(typed)
            assert actual == expected, (column.declared, want[column.name], got[column.name])
            if level == "typed" and expected is not None and column.tp not in (NEWDECIMAL, DATETIME, DURATION):
                assert type(got[column.name]) is type(want[column.name]), column.declared
    if level == "typed":
        for column in event.table_info.columns:
            again = decoded.table_info.column(column.name)
            assert again is not None
            # (tidb_type says no "unsigned" for a decimal: ticdc helper.go getTiDBType)
            unsigned = column.unsigned and column.tp != NEWDECIMAL
            assert (again.tp, again.type_name, again.unsigned, again.binary, again.nullable, again.primary_key,
                    again.elems) == (column.tp, column.type_name, unsigned, column.binary, column.nullable,
                                     column.primary_key, column.elems)


def _typed_doc(column: Column, raw: Any) -> bytes:
    """A one-column message with the schema TiCDC gives ``column``, to read a bare value."""
    from cdcsink.codec.debezium.message import field_schema
    from cdcsink.codec.schema import parse_column

    single = parse_column("c", column.declared, 0, False)
    fields = [field_schema(single, True)]
    doc = {"schema": {"fields": [{"field": "after", "fields": fields}]},
           "payload": {"op": "c", "after": {"c": raw}, "source": {"db": "d", "table": "t"}}}
    return json.dumps(doc).encode()


@settings(max_examples=150, deadline=None)
@given(OPTIONS, row_events())
def test_every_message_decodes_back_to_its_row(options, event):
    check(options, event)


@settings(max_examples=40, deadline=None)
@given(OPTIONS, row_events(all_types_table()))
def test_a_row_of_every_type_decodes_back(options, event):
    check(options, event)


QUERIES = [
    "CREATE DATABASE d", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(8))", "ALTER TABLE t ADD COLUMN c INT",
    "ALTER TABLE t ADD INDEX i (v)", "RENAME TABLE t TO u", "TRUNCATE TABLE t", "DROP TABLE t", "DROP DATABASE d",
    "ALTER TABLE t COMMENT = 'é \" <>'",
]


@settings(max_examples=60, deadline=None)
@given(OPTIONS, st.text(min_size=1, max_size=8), st.one_of(st.none(), st.text(min_size=1, max_size=8)),
       st.integers(0, 2**63 - 1), st.sampled_from(QUERIES))
def test_ddl_and_watermarks_decode_back(options, schema, table, commit_ts, query):
    ddl = DDLEvent(schema, table, commit_ts, query)
    message = DebeziumEncoder(options).encode_ddl(ddl)
    assert message is not None
    (decoded,) = DebeziumDecoder(options).decode(*message)
    assert isinstance(decoded, DDLEvent)
    assert (decoded.schema, decoded.table, decoded.commit_ts, decoded.query) == (schema, table, commit_ts, query)
    watermark = DebeziumEncoder(options).encode_watermark(commit_ts)
    if not options.enable_tidb_extension:
        assert watermark is None
        return
    (resolved,) = DebeziumDecoder(options).decode(*watermark)  # type: ignore[misc]
    assert isinstance(resolved, ResolvedEvent) and resolved.commit_ts == commit_ts

