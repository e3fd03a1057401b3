"""The debezium decoder reads TiCDC's messages and those of Debezium's own MySQL
connector (through Kafka Connect's JsonConverter, with and without schemas),
in the forms Debezium documents (debezium.io, MySQL connector, "Data type
mappings", "Decimal types", "Temporal types"; Kafka Connect's JsonConverter
``schemas.enable``)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from cdcsink.codec.debezium.decoder import DebeziumDecoder
from cdcsink.codec.debezium.encoder import DebeziumEncoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from tests.unit.codec.debezium import ticdc_expected as expected


def decode(value: Any, key: Any = None) -> list[Any]:
    dump = (lambda doc: doc if doc is None or type(doc) is bytes else orjson.dumps(doc))
    return DebeziumDecoder().decode(dump(key), dump(value))


def test_debeziums_own_message_for_every_type():
    # ticdc testdata/datatype.dbz.json is what Debezium's MySQL connector wrote (no tidb_type, connector "mysql").
    (event,) = decode(expected.DATATYPE_DBZ, expected.DATATYPE_DBZ_KEY)
    assert isinstance(event, RowEvent)
    assert (event.schema, event.table, event.op, event.commit_ts, event.commit_time_ms) == (
        "test", "foo", "insert", 0, 1701673705000)
    assert event.table_info.pk == ("pk",)
    after = event.after
    assert after["pk"] == 1
    assert [after[f"col_d_{s}"] for s in ("2023", "1000", "9999", "0000")] == ["2023-11-30", "1000-01-01", "9999-12-31", None]
    # io.debezium.time.Timestamp: milliseconds, read as datetime(3); MicroTimestamp as datetime(6)
    assert after["col_dt"] == "2023-11-30 12:34:56.000" and after["col_dt_fsp_1"] == "2023-11-30 12:34:56.100"
    assert after["col_dt_fsp_4"] == "2023-11-30 12:34:56.123500" and after["col_dt_0000"] is None
    assert after["col_t_fsp_1"] == "12:34:56.100000" and after["col_t_neg"] == "-12:34:56.123456"
    assert after["col_ts_fsp_5"] == "2023-11-30 12:34:56.12346" and after["col_ts"] == "2023-11-30 12:34:56"
    assert (after["col_y"], after["col_bit_1"], after["col_bit_5"], after["col_bit_60"]) == (2023, 1, 16, 16)
    assert (after["col_varchar"], after["col_char"]) == ("foo", "foo")
    assert after["col_varbinary"] == "Zm9v"  # a Connect string: the base64 text of the bytes
    # decimal.handling.mode=double: without tidb_type a decimal is a double column
    assert (after["col_decimal"], after["col_float"], after["col_double"]) == (12345.12345, 12345.123046875, 12345.12345)
    assert (after["col_int_unsigned"], after["col_bigint"]) == (4294967295, -9223372036854775808)
    assert after["col_bigint_unsigned"] == -1  # int64 without tidb_type: the sign is not in the message
    assert (after["col_enum"], after["col_enum_invalid"], after["col_set"], after["col_set_invalid"]) == (1, 0, 3, 0)
    assert after["col_json"] == '["foo"]'
    types = {column.name: column.type_name for column in event.table_info.columns}
    assert (types["col_tinyint"], types["col_smallint"], types["col_int"], types["col_bit_5"]) == (
        "smallint", "smallint", "int", "bit")
    assert event.table_info.column("col_enum").elems == ("a", "b", "c")  # type: ignore[union-attr]


def test_without_a_schema_each_column_is_typed_by_its_values():
    # JsonConverter with schemas.enable=false writes the bare payload, no envelope.
    bare = copy.deepcopy(expected.DATATYPE_DBZ["payload"])
    (event,) = decode(bare, {"pk": 1})
    assert event.after["col_bit_1"] == 1 and event.after["col_d_2023"] == 19691 and event.after["col_double"] == 12345.12345
    assert event.table_info.column("col_dt").type_name == "bigint"  # type: ignore[union-attr]
    assert event.table_info.pk == ("pk",)


def _envelope(fields: list[dict[str, Any]], after: dict[str, Any], op: str = "c", before: Any = None) -> dict[str, Any]:
    return {
        "schema": {"type": "struct", "fields": [
            {"type": "struct", "optional": True, "field": "before", "fields": fields},
            {"type": "struct", "optional": True, "field": "after", "fields": fields},
        ]},
        "payload": {"before": before, "after": after, "op": op, "ts_ms": 5,
                    "source": {"connector": "mysql", "db": "shop", "table": "t", "ts_ms": 4}},
    }


def test_precise_and_variable_scale_decimals():
    # Debezium decimal.handling.mode=precise: org.apache.kafka.connect.data.Decimal, the unscaled value's
    # big-endian two's-complement bytes, base64 in JSON; VariableScaleDecimal is {scale, value}.
    fields = [
        {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
         "parameters": {"scale": "2", "connect.decimal.precision": "10"}, "field": "price"},
        {"type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
         "parameters": {"scale": "0"}, "field": "whole"},
        {"type": "struct", "optional": True, "name": "io.debezium.data.VariableScaleDecimal", "field": "v",
         "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}]},
        {"type": "string", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
         "parameters": {"scale": "3"}, "field": "text"},
    ]
    after = {"price": "AJg=", "whole": "/w==", "v": {"scale": 3, "value": "MDk="}, "text": "1.5"}
    (event,) = decode(_envelope(fields, after))
    assert event.after == {"price": "1.52", "whole": "-1", "v": "12.345", "text": "1.500"}
    price = event.table_info.column("price")
    assert (price.type_name, price.flen, price.decimal, price.nullable) == ("decimal", 10, 2, False)  # type: ignore[union-attr]


def test_connect_temporal_types_and_snapshot_reads():
    # time.precision.mode=connect: Kafka Connect's Date (days), Time (ms), Timestamp (ms); op r is a snapshot read.
    fields = [
        {"type": "int32", "name": "org.apache.kafka.connect.data.Date", "field": "d"},
        {"type": "int32", "name": "org.apache.kafka.connect.data.Time", "field": "t"},
        {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "field": "ts"},
        {"type": "string", "name": "io.debezium.time.ZonedTimestamp", "field": "z"},
        {"type": "int64", "name": "io.debezium.time.NanoTimestamp", "field": "n"},
    ]
    after = {"d": -1, "t": 3_600_500, "ts": 1_000, "z": "2024-01-01T08:00:00+08:00", "n": 1_500_000}
    (event,) = decode(_envelope(fields, after, op="r"))
    assert event.op == "insert"
    assert event.after == {"d": "1969-12-31", "t": "01:00:00.500", "ts": "1970-01-01 00:00:01.000",
                           "z": "2024-01-01 00:00:00", "n": "1970-01-01 00:00:00.001500"}


def test_tombstones_hold_no_event():
    # Debezium writes a record with a null value after each delete (tombstones.on.delete=true).
    assert DebeziumDecoder().decode(b'{"id":1}', None) == []
    assert DebeziumDecoder().decode(b'{"id":1}', b"") == []


def test_debeziums_schema_change_message():
    # A Debezium schema change event has no op; its source has no commit_ts.
    value = {"payload": {
        "source": {"version": "2.4.0.Final", "connector": "mysql", "name": "dbserver1", "ts_ms": 1701673705000,
                   "db": "inventory", "table": "customers", "server_id": 1},
        "ts_ms": 1701673705300, "databaseName": "inventory", "schemaName": None,
        "ddl": "ALTER TABLE customers ADD COLUMN c INT", "tableChanges": []}}
    (event,) = decode(value, {"databaseName": "inventory"})
    assert isinstance(event, DDLEvent)
    assert (event.schema, event.table, event.commit_ts, event.query, event.commit_time_ms) == (
        "inventory", "customers", 0, "ALTER TABLE customers ADD COLUMN c INT", 1701673705000)


def test_truncate_events_are_truncate_ddls():
    # Debezium's op t (skipped.operations without t): a TRUNCATE of the source table.
    (event,) = decode({"payload": {"op": "t", "ts_ms": 1, "before": None, "after": None,
                                   "source": {"db": "shop", "table": "orders", "ts_ms": 1}}})
    assert isinstance(event, DDLEvent) and event.query == "TRUNCATE TABLE `shop`.`orders`"


def test_an_update_without_before_reads_as_an_insert_as_in_ticdc():
    # ticdc decoder.go assembleDMLEventFromPayload: only after -> RowTypeInsert
    options = EncoderOptions("debezium", debezium_output_old_value=False, enable_tidb_extension=True)
    event = RowEvent("s", "t", 9, "update", ["id"], {"id": "int", "v": "int"}, {"id": 1, "v": 1}, {"id": 1, "v": 2})
    (decoded,) = DebeziumDecoder(options).decode(*DebeziumEncoder(options).encode_row(event))
    assert (decoded.op, decoded.before, decoded.after, decoded.commit_ts) == ("insert", None, {"id": 1, "v": 2}, 9)


def test_watermark_reads_as_a_resolved_event():
    options = EncoderOptions("debezium", enable_tidb_extension=True)
    (event,) = DebeziumDecoder(options).decode(*DebeziumEncoder(options).encode_watermark(12345))  # type: ignore[misc]
    assert isinstance(event, ResolvedEvent) and event.commit_ts == 12345


@pytest.mark.parametrize("value, reason", [
    (b"{", "not JSON"),
    (b'{"payload":{"op":"c"}}', "no source"),
    (b'{"payload":{"op":"x","source":{"db":"a","table":"b"}}}', "op 'x'"),
    (b'{"payload":{"op":"c","source":{"db":"a","table":"b"},"after":null}}', "without its after"),
])
def test_broken_messages_say_what_is_wrong(value, reason):
    with pytest.raises(ValueError, match=reason):
        DebeziumDecoder().decode(None, value)


def test_a_value_of_the_wrong_json_type_names_the_column():
    fields = [{"type": "int32", "optional": False, "field": "n"}]
    with pytest.raises(ValueError, match="column 'n'"):
        decode(_envelope(fields, {"n": "1"}))


def test_a_column_ticdc_has_no_schema_for_reads_back_as_null():
    # ticdc codec.go:583-588: an unsupported type (geometry) gets an empty field schema ({}), its value NULL.
    options = EncoderOptions("debezium", enable_tidb_extension=True)
    event = RowEvent("s", "t", 3, "insert", ["id"], {"id": "int", "g": "geometry"}, None, {"id": 1, "g": None})
    key, value = DebeziumEncoder(options).encode_row(event)
    assert orjson.loads(value)["schema"]["fields"][1]["fields"][1] == {"tidb_type": "geometry"}
    (decoded,) = DebeziumDecoder(options).decode(key, value)
    assert decoded.after == {"id": 1, "g": None}
