"""Every canal-json message the encoder writes decodes, by TiCDC's consumer rules,
back to the same row: tables of every supported type, rows with each type's edge
values (NULL, empty, extremes, unsigned maxima, non-ASCII text, every byte), and
the option combinations that change the message (TiDB extension,
content-compatible, only-output-updated-columns, delete-only-output-handle-key-columns).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.codec.canal_json.encoder import CanalJsonEncoder
from cdcsink.codec.common.mysql_types import canal_java_type, mysql_type_name
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import build_decoder
from cdcsink.events import DELETE, UPDATE, RowEvent
from tests.unit.codec.strategies import all_types_table, row_events

OPTIONS = st.builds(
    lambda extension, content_compatible, only_updated, delete_keys: EncoderOptions(
        "canal-json",
        enable_tidb_extension=extension,
        content_compatible=content_compatible,
        only_output_updated_columns=only_updated,
        delete_only_output_handle_key_columns=delete_keys,
        clock_ms=lambda: 1_700_000_000_000,
    ),
    st.booleans(), st.booleans(), st.booleans(), st.booleans(),
)


def check_round_trip(options: EncoderOptions, event: RowEvent) -> None:
    key, value = CanalJsonEncoder(options).encode_row(event)
    (decoded,) = build_decoder(options).decode(key, value)
    assert isinstance(decoded, RowEvent)
    assert (decoded.schema, decoded.table, decoded.op) == (event.schema, event.table, event.op)
    assert decoded.commit_ts == (event.commit_ts if options.enable_tidb_extension else 0)
    keys_only = options.delete_only_output_handle_key_columns and event.op == DELETE
    expected_columns = [c for c in event.table_info.columns if c.primary_key or not keys_only]
    assert [c.name for c in decoded.table_info.columns] == [c.name for c in expected_columns]
    for original, rebuilt in zip(expected_columns, decoded.table_info.columns):
        assert mysql_type_name(rebuilt, options.content_compatible) == mysql_type_name(original, options.content_compatible)
        assert canal_java_type(rebuilt) == canal_java_type(original)
    assert decoded.table_info.pk == event.table_info.pk
    names = [c.name for c in expected_columns]
    assert decoded.before == _image(event.before, names)
    assert decoded.after == _image(event.after, names)
    # And the decoded row encodes to the very same message.
    assert CanalJsonEncoder(options).encode_row(decoded) == (key, value)


def _image(image: dict[str, Any] | None, names: list[str]) -> dict[str, Any] | None:
    return None if image is None else {name: image[name] for name in names}


@settings(max_examples=200, deadline=None)
@given(OPTIONS, row_events())
def test_every_message_decodes_back_to_its_row(options, event):
    check_round_trip(options, event)


@settings(max_examples=40, deadline=None)
@given(OPTIONS, row_events(all_types_table()))
def test_a_row_of_every_type_decodes_back(options, event):
    check_round_trip(options, event)


def test_an_update_that_changes_a_value_round_trips_with_only_updated_columns():
    table = all_types_table()
    declared = {c.name: c.declared for c in table.columns}
    before = {c.name: None for c in table.columns} | {"id": 1}
    after = dict(before) | {"c0": 5}
    event = RowEvent("db", "all_types", 7, UPDATE, ["id"], declared, before, after, None, 0, table)
    check_round_trip(EncoderOptions("canal-json", True, only_output_updated_columns=True, clock_ms=lambda: 1), event)
