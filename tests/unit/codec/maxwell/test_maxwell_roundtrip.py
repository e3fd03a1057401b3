"""Every maxwell message cdcsink writes decodes back to its rows, as far as
maxwell keeps them: one message or several per run of rows, rows of every
supported type with edge values, and DDL events.

Maxwell carries no column types, keys or commit ts (README, "maxwell
messages"): a value comes back as the JSON value it was written as (numbers
stay numbers, a float column's value is its float32 digits read as a double,
binary strings base64 text), rows without pk, commit ts 0, and the commit
time in whole seconds.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.codec.common.gojson import marshal_float
from cdcsink.codec.maxwell.decoder import MaxwellDecoder
from cdcsink.codec.maxwell.encoder import MaxwellEncoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import BLOBS, CHARS, DOUBLE, FLOAT, Column
from cdcsink.events import DDLEvent, RowEvent
from tests.unit.codec.strategies import all_types_table, row_events, tables


def kept(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.tp == FLOAT:
        return json.loads(marshal_float(value, 32))
    if column.tp == DOUBLE:
        return json.loads(marshal_float(value, 64))
    if column.binary and (column.tp in CHARS or column.tp in BLOBS):
        return base64.b64encode(value).decode()
    return value


def projected(event: RowEvent, image: dict[str, Any] | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {column.name: kept(column, image[column.name]) for column in event.table_info.columns}


@st.composite
def runs(draw: st.DrawFn) -> list[RowEvent]:
    chosen = draw(st.lists(st.one_of(tables(), st.just(all_types_table())), min_size=1, max_size=2))
    return draw(st.lists(st.one_of(*(row_events(t) for t in chosen)), min_size=1, max_size=6))


@settings(max_examples=150, deadline=None)
@given(runs(), st.integers(0, 4000), st.booleans())
def test_every_message_decodes_back_to_its_rows(events, slack, keys_only):
    plain = MaxwellEncoder(EncoderOptions("maxwell"))
    largest = max(len(plain.encode_row(event)[1]) for event in events)
    options = EncoderOptions("maxwell", max_message_bytes=8 + 36 + largest + slack,
                             delete_only_output_handle_key_columns=keys_only)
    messages = MaxwellEncoder(options).encode_rows(events)
    assert all(len(key) + len(value) + 36 <= options.max_message_bytes for key, value in messages)
    decoder = MaxwellDecoder(options)
    decoded = [event for key, value in messages for event in decoder.decode(key, value)]
    assert len(decoded) == len(events)
    for again, original in zip(decoded, events):
        assert isinstance(again, RowEvent)
        assert (again.schema, again.table, again.op, again.commit_ts, again.pk) == (
            original.schema, original.table, original.op, 0, [])
        assert again.commit_time_ms == ((original.commit_ts >> 18) // 1000) * 1000
        before = projected(original, original.before)
        if keys_only and original.op == "delete" and before is not None:
            before = {name: before[name] for name in original.pk}
        assert again.before == before
        assert again.after == projected(original, original.after)


QUERIES = ["CREATE TABLE t (id INT PRIMARY KEY)", "ALTER TABLE t ADD COLUMN c INT", "DROP TABLE t",
           "CREATE DATABASE d", "TRUNCATE TABLE t", "ANALYZE TABLE t", "ALTER TABLE t COMMENT = '<é>'"]


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=8), st.one_of(st.none(), st.text(min_size=1, max_size=8)),
       st.integers(0, 2**64 - 1), st.sampled_from(QUERIES))
def test_ddl_decodes_back(schema, table, commit_ts, query):
    message = MaxwellEncoder(EncoderOptions("maxwell")).encode_ddl(DDLEvent(schema, table, commit_ts, query))
    assert message is not None
    (decoded,) = MaxwellDecoder().decode(*message)
    assert isinstance(decoded, DDLEvent)
    assert (decoded.schema, decoded.table, decoded.commit_ts, decoded.query) == (schema, table, commit_ts, query)
