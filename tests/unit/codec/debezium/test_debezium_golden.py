"""Debezium messages as TiCDC writes them, one case per TiCDC test.

Each case builds the row or DDL of a test in ticdc
``pkg/sink/codec/debezium/codec_test.go`` / ``debezium_test.go`` (its CREATE
TABLE as cdcsink ``columns``, its row as canonical values, cluster
``test_cluster`` or ``dbserver1``, the clock at 1701326309 s) and compares
cdcsink's key and value with TiCDC's expected JSON (``ticdc_expected``, which
names each source line). TiCDC compares with ``require.JSONEq`` (order-free);
``test_fields_are_written_in_ticdcs_order`` checks the byte order against the
writer calls in codec.go.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import orjson
import pytest

from cdcsink.codec.debezium.encoder import DebeziumEncoder
from cdcsink.codec.debezium.message import sanitize_name, schema_topic_name
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import InvalidEventError, MessageTooLargeError
from cdcsink.events import DDLEvent, RowEvent
from tests.unit.codec.debezium import ticdc_expected as expected

NOW_MS = 1701326309000


def encoder(**options: Any) -> DebeziumEncoder:
    options.setdefault("cluster_id", "test_cluster")
    return DebeziumEncoder(EncoderOptions("debezium", clock_ms=lambda: NOW_MS, **options))


def loads(data: bytes) -> Any:
    return orjson.loads(data)


TINY = {"tiny": "tinyint"}  # create table test.table1(tiny tinyint primary key)


def tiny_row(op: str, before: int | None, after: int | None) -> RowEvent:
    return RowEvent("test", "table1", 1, op, ["tiny"], TINY,
                    None if before is None else {"tiny": before}, None if after is None else {"tiny": after})


# -- rows: codec_test.go TestEncodeInsert / TestEncodeUpdate / TestEncodeDelete -------------


def test_insert_without_schema():
    # ticdc codec_test.go:770 TestEncodeInsert (DebeziumDisableSchema, no old value)
    key, value = encoder(debezium_disable_schema=True, debezium_output_old_value=False).encode_row(tiny_row("insert", None, 1))
    assert loads(key) == expected.CODEC_TEST_803
    assert loads(value) == expected.CODEC_TEST_812


def test_insert_with_schema():
    key, value = encoder(debezium_output_old_value=False).encode_row(tiny_row("insert", None, 1))
    assert loads(key) == expected.CODEC_TEST_848
    assert loads(value) == expected.CODEC_TEST_870


def test_update_without_schema_carries_before():
    # ticdc codec_test.go:972 TestEncodeUpdate: update tiny=2 to tiny=1
    key, value = encoder(debezium_disable_schema=True).encode_row(tiny_row("update", 2, 1))
    assert loads(key) == expected.CODEC_TEST_1009
    assert loads(value) == expected.CODEC_TEST_1019


def test_update_with_schema():
    key, value = encoder().encode_row(tiny_row("update", 2, 1))
    assert loads(key) == expected.CODEC_TEST_1057
    assert loads(value) == expected.CODEC_TEST_1080


def test_update_without_old_value_has_no_before():
    key, value = encoder(debezium_disable_schema=True, debezium_output_old_value=False).encode_row(tiny_row("update", 2, 1))
    assert loads(key) == expected.CODEC_TEST_1187
    assert loads(value) == expected.CODEC_TEST_1198
    assert "before" not in loads(value)["payload"]


def test_delete_without_schema():
    # ticdc codec_test.go:1228 TestEncodeDelete: the key is the deleted row's handle key
    key, value = encoder(debezium_disable_schema=True, debezium_output_old_value=False).encode_row(tiny_row("delete", 2, None))
    assert loads(key) == expected.CODEC_TEST_1263
    assert loads(value) == expected.CODEC_TEST_1273


def test_delete_with_schema():
    key, value = encoder(debezium_output_old_value=False).encode_row(tiny_row("delete", 2, None))
    assert loads(key) == expected.CODEC_TEST_1310
    assert loads(value) == expected.CODEC_TEST_1333


def test_fields_are_written_in_ticdcs_order():
    # ticdc codec.go:1053 (EncodeValue): source (codec.go:1068-1095, fields in this order), ts_ms, transaction
    # (codec.go:1109), op, then before/after per op (codec.go:1110-1146).
    _, value = encoder(debezium_disable_schema=True).encode_row(tiny_row("update", 2, 1))
    assert value == (
        b'{"payload":{"source":{"version":"2.4.0.Final","connector":"TiCDC","name":"test_cluster","ts_ms":0,'
        b'"snapshot":"false","db":"test","table":"table1","server_id":0,"gtid":null,"file":"","pos":0,"row":0,'
        b'"thread":0,"query":null,"commit_ts":1,"cluster_id":"test_cluster"},"ts_ms":1701326309000,'
        b'"transaction":null,"op":"u","before":{"tiny":2},"after":{"tiny":1}}}'
    )
    _, value = encoder(debezium_disable_schema=True).encode_row(tiny_row("delete", 2, None))
    assert b'"op":"d","after":null,"before":{"tiny":2}}}' in value  # codec.go:1132-1134


def test_no_tombstone_follows_a_delete():
    # ticdc encoder.go AppendRowChangedEvent appends one message per row; nothing with an empty value.
    messages = encoder().encode_rows([tiny_row("delete", 2, None)])
    assert len(messages) == 1 and messages[0][1]


# -- every type: debezium_test.go TestDataTypes against Debezium's own output -------------------

#: testdata/datatype.ddl.sql as cdcsink columns.
DATATYPE_COLUMNS = {
    "pk": "int",
    "col_d_2023": "date", "col_d_1000": "date", "col_d_9999": "date", "col_d_0000": "date",
    "col_dt": "datetime", "col_dt_fsp_0": "datetime(0)", "col_dt_fsp_1": "datetime(1)",
    "col_dt_fsp_4": "datetime(4)", "col_dt_fsp_6": "datetime(6)", "col_dt_0000": "datetime(6)",
    "col_t": "time", "col_t_fsp_0": "time(0)", "col_t_fsp_1": "time(1)", "col_t_fsp_4": "time(4)",
    "col_t_fsp_6": "time(6)", "col_t_neg": "time(6)",
    "col_ts": "timestamp", "col_ts_fsp_0": "timestamp(0)", "col_ts_fsp_1": "timestamp(1)",
    "col_ts_fsp_5": "timestamp(5)", "col_ts_fsp_6": "timestamp(6)",
    "col_y": "year",
    "col_bit_1": "bit(1)", "col_bit_5": "bit(5)", "col_bit_6": "bit(6)", "col_bit_60": "bit(60)",
    "col_varchar": "varchar(100)", "col_char": "char(100)", "col_varbinary": "varbinary(100)",
    "col_binary": "binary(100)", "col_blob": "blob",
    "col_decimal": "decimal(10, 5)", "col_numeric": "numeric(10, 5)", "col_float": "float", "col_double": "double",
    "col_int": "int", "col_int_unsigned": "int unsigned", "col_tinyint": "tinyint",
    "col_tinyint_unsigned": "tinyint unsigned", "col_smallint": "smallint", "col_smallint_unsigned": "smallint unsigned",
    "col_mediumint": "mediumint", "col_mediumint_unsigned": "mediumint unsigned", "col_bigint": "bigint",
    "col_bigint_unsigned": "bigint unsigned",
    "col_enum": "enum('a', 'b', 'c')", "col_enum_invalid": "enum('a', 'b', 'c')",
    "col_set": "set('a', 'b', 'c')", "col_set_invalid": "set('a', 'b', 'c')",
    "col_json": "json",
}

#: testdata/datatype.dml.sql as TiDB stores it (sql_mode='', time_zone UTC): fractions rounded to each
#: column's fsp, binary(100) padded with zero bytes, the invalid enum and set members as 0.
DATATYPE_ROW = {
    "pk": 1,
    "col_d_2023": "2023-11-30", "col_d_1000": "1000-01-01", "col_d_9999": "9999-12-31", "col_d_0000": "0000-00-00",
    "col_dt": "2023-11-30 12:34:56", "col_dt_fsp_0": "2023-11-30 12:34:56", "col_dt_fsp_1": "2023-11-30 12:34:56.1",
    "col_dt_fsp_4": "2023-11-30 12:34:56.1235", "col_dt_fsp_6": "2023-11-30 12:34:56.123456",
    "col_dt_0000": "0000-00-00 00:00:00.000000",
    "col_t": "12:34:56", "col_t_fsp_0": "12:34:56", "col_t_fsp_1": "12:34:56.1", "col_t_fsp_4": "12:34:56.1235",
    "col_t_fsp_6": "12:34:56.123456", "col_t_neg": "-12:34:56.123456",
    "col_ts": "2023-11-30 12:34:56", "col_ts_fsp_0": "2023-11-30 12:34:56", "col_ts_fsp_1": "2023-11-30 12:34:56.1",
    "col_ts_fsp_5": "2023-11-30 12:34:56.12346", "col_ts_fsp_6": "2023-11-30 12:34:56.123456",
    "col_y": 2023,
    "col_bit_1": 1, "col_bit_5": 16, "col_bit_6": 16, "col_bit_60": 16,
    "col_varchar": "foo", "col_char": "foo", "col_varbinary": b"foo", "col_binary": b"foo".ljust(100, b"\0"),
    "col_blob": b"foo",
    "col_decimal": "12345.12345", "col_numeric": "12345.12345", "col_float": 12345.123046875, "col_double": 12345.12345,
    "col_int": -2147483648, "col_int_unsigned": 4294967295, "col_tinyint": -128, "col_tinyint_unsigned": 255,
    "col_smallint": -32768, "col_smallint_unsigned": 65535, "col_mediumint": -8388608,
    "col_mediumint_unsigned": 16777215, "col_bigint": -9223372036854775808, "col_bigint_unsigned": 18446744073709551615,
    "col_enum": 1, "col_enum_invalid": 0, "col_set": 3, "col_set_invalid": 0,
    "col_json": '["foo"]',
}


def datatype_row() -> RowEvent:
    return RowEvent("test", "foo", 1, "insert", ["pk"], DATATYPE_COLUMNS, None, dict(DATATYPE_ROW))


@pytest.mark.parametrize("disable_schema", [False, True], ids=["schema", "no-schema"])
def test_every_type_is_written_as_debeziums_mysql_connector_writes_it(disable_schema):
    # ticdc debezium_test.go:169 TestDataTypes: TiCDC's message equals Debezium's own output for
    # testdata/datatype.*, but for payload.source and payload.ts_ms (and the schema without one).
    key, value = encoder(cluster_id="dbserver1", debezium_disable_schema=disable_schema).encode_row(datatype_row())
    want_value = copy.deepcopy(expected.DATATYPE_DBZ)
    want_key = copy.deepcopy(expected.DATATYPE_DBZ_KEY)
    got_value, got_key = loads(value), loads(key)
    for doc in (want_value, got_value):
        del doc["payload"]["source"], doc["payload"]["ts_ms"]
    if disable_schema:
        del want_value["schema"], want_key["schema"]
    assert got_key == want_key
    assert got_value["payload"] == want_value["payload"]
    assert got_value == want_value


def test_a_timestamp_tidb_cannot_hold_is_an_error_naming_the_column():
    # ticdc codec.go:798-802: GoTime fails -> ErrDebeziumEncodeFailed
    event = RowEvent("test", "t", 1, "insert", ["id"], {"id": "int", "ts": "timestamp"}, None,
                     {"id": 1, "ts": "2023-02-30 00:00:00"})
    with pytest.raises(InvalidEventError, match="column 'ts'"):
        encoder().encode_row(event)


def test_dates_go_cannot_hold_are_null_or_zero_when_not_null():
    # ticdc codec.go:682-693: a date time.Parse rejects is 0 for a NOT NULL column, else null
    event = RowEvent("test", "t", 1, "insert", ["id"], {"id": "int", "d": "date not null", "n": "date"}, None,
                     {"id": 1, "d": "2023-02-30", "n": "0000-00-00"})
    assert loads(encoder().encode_row(event)[1])["payload"]["after"] == {"id": 1, "d": 0, "n": None}


def test_years_below_100_are_read_as_two_digit_years():
    # ticdc codec.go:695-702 (date) and 742-749 (datetime): "0018" is 2018, "0099" is 1999
    event = RowEvent("test", "t", 1, "insert", ["id"], {"id": "int", "a": "date", "b": "datetime"}, None,
                     {"id": 1, "a": "0018-01-01", "b": "0099-01-01 00:00:00"})
    after = loads(encoder().encode_row(event)[1])["payload"]["after"]
    assert after["a"] == 17532  # 2018-01-01
    assert after["b"] == 915148800000  # 1999-01-01T00:00:00Z in ms


def test_unsigned_bigints_past_int64_are_written_as_their_int64_bits():
    # ticdc codec.go:842-846: int64(v), and the maximum as -1
    event = RowEvent("test", "t", 1, "insert", ["id"], {"id": "int", "u": "bigint unsigned"}, None,
                     {"id": 1, "u": 2**63})
    assert loads(encoder().encode_row(event)[1])["payload"]["after"]["u"] == -(2**63)


def test_the_tidb_extension_adds_tidb_type_and_the_commit_ts_fields():
    # ticdc codec.go:170-173 (tidb_type first), codec.go:981-992 (commit_ts, cluster_id in the source schema)
    _, value = encoder(enable_tidb_extension=True).encode_row(
        RowEvent("test", "t", 1, "insert", ["id"], {"id": "int unsigned", "v": "varbinary(8)", "d": "decimal(5,2)"},
                 None, {"id": 1, "v": b"\x00", "d": "1.50"}))
    doc = loads(value)
    fields = doc["schema"]["fields"][1]["fields"]
    assert fields[0] == {"tidb_type": "int unsigned", "type": "int64", "optional": False, "field": "id"}
    assert fields[1] == {"tidb_type": "varbinary", "type": "string", "optional": True, "field": "v"}
    assert fields[2] == {"tidb_type": "decimal", "type": "double", "optional": True, "field": "d"}
    source_fields = [f["field"] for f in doc["schema"]["fields"][2]["fields"]]
    assert source_fields[-2:] == ["commit_ts", "cluster_id"]
    assert doc["payload"]["after"] == {"id": 1, "v": base64.b64encode(b"\x00").decode(), "d": 1.5}


def test_compression_applies_to_key_and_value():
    # ticdc encoder.go:165-190: common.Compress of the key (encoder.go:170) and of the value (encoder.go:185)
    import cramjam

    key, value = encoder(large_message_handle_compression="zstd").encode_row(tiny_row("insert", None, 1))
    plain_key, plain_value = encoder().encode_row(tiny_row("insert", None, 1))
    assert bytes(cramjam.zstd.decompress(key)) == plain_key
    assert bytes(cramjam.zstd.decompress(value)) == plain_value


def test_a_message_over_max_message_bytes_stops_with_the_event_named():
    event = RowEvent("test", "t", 1, "insert", ["id"], {"id": "int", "s": "text"}, None, {"id": 7, "s": "x" * 5000})
    with pytest.raises(MessageTooLargeError, match=r"test\.t commit_ts=1 pk=\{'id': 7\}"):
        encoder(max_message_bytes=4000).encode_row(event)


def test_schema_names_are_sanitized_as_ticdc_does():
    # ticdc pkg/sink/codec/common/helper_test.go:22 TestSanitizeName
    assert sanitize_name("normalColumnName123") == "normalColumnName123"
    assert sanitize_name("1ColumnNameStartWithNumber") == "_1ColumnNameStartWithNumber"
    assert sanitize_name("A.B") == "A_B"
    assert sanitize_name("columnNameWith中文") == "columnNameWith__"
    # ticdc helper.go getSchemaTopicName: SanitizeTopicName keeps "." in the table name
    assert schema_topic_name("my-cf", "1db", "a.b-c") == "my_cf._1db.a.b_c"


# -- DDL: codec_test.go TestDDLEvent --------------------------------------------------------


def test_rename_table_is_an_alter_with_both_names():
    # ticdc codec_test.go:69 TestDDLEvent: rename test.table1 (id int(10) primary key) to test.table2
    codec = encoder()
    codec.encode_row(RowEvent("test", "table1", 1, "insert", ["id"], {"id": "int(10)"}, None, {"id": 1}))
    key, value = codec.encode_ddl(DDLEvent("test", "table2", 1, "RENAME TABLE test.table1 to test.table2"))  # type: ignore[misc]
    assert loads(key) == expected.CODEC_TEST_115
    assert loads(value) == expected.CODEC_TEST_134


def test_create_table_describes_the_table_from_the_statement():
    key, value = encoder(debezium_disable_schema=True).encode_ddl(  # type: ignore[misc]
        DDLEvent("test", "table1", 1, "CREATE TABLE test.table1(id int(10) primary key)"))
    assert loads(key) == expected.CODEC_TEST_468
    assert loads(value) == expected.CODEC_TEST_474


def test_drop_table_has_no_table():
    key, value = encoder(debezium_disable_schema=True).encode_ddl(  # type: ignore[misc]
        DDLEvent("test", "table2", 1, "DROP TABLE test.table2"))
    assert loads(key) == expected.CODEC_TEST_546
    assert loads(value) == expected.CODEC_TEST_552


def test_a_ddl_kind_debezium_has_no_form_for_is_not_sent():
    # ticdc codec_test.go:98: ActionNone -> ErrDDLUnsupportType; encoder.go:127-130 returns no message
    assert encoder().encode_ddl(DDLEvent("test", "t", 1, "ANALYZE TABLE t")) is None
    assert encoder().encode_ddl(DDLEvent("test", "t", 1, "ALTER TABLE t TTL = `c` + INTERVAL 1 DAY")) is None


def test_truncate_and_schema_ddls_have_no_table_changes():
    # ticdc codec.go:1345-1349: no tableChanges without a table name or for TRUNCATE TABLE
    for ddl in (DDLEvent("test", "t", 5, "TRUNCATE TABLE t"), DDLEvent("test", None, 5, "CREATE DATABASE test")):
        payload = loads(encoder().encode_ddl(ddl)[1])["payload"]  # type: ignore[index]
        assert payload["tableChanges"] == [] and payload["ddl"] == ddl.query


def test_an_alter_that_changes_columns_has_no_table_description():
    # The input carries no table definition after the DDL: table is null (README: known differences).
    codec = encoder()
    codec.encode_row(RowEvent("test", "t", 1, "insert", ["id"], {"id": "int"}, None, {"id": 1}))
    payload = loads(codec.encode_ddl(DDLEvent("test", "t", 2, "ALTER TABLE t ADD COLUMN c INT"))[1])["payload"]  # type: ignore[index]
    assert payload["tableChanges"] == [{"type": "ALTER", "id": '"test"."t"', "table": None}]
    payload = loads(codec.encode_ddl(DDLEvent("test", "t", 3, "ALTER TABLE t ADD INDEX i (id)"))[1])["payload"]  # type: ignore[index]
    assert payload["tableChanges"][0]["table"]["columns"][0]["name"] == "id"


def test_create_table_columns_carry_ticdcs_length_scale_and_type_expression():
    # ticdc helper.go:190 getLen, :222 getScale, :273 getExpressionAndName; codec.go:1386-1467
    query = ("CREATE TABLE s.t (id bigint unsigned NOT NULL AUTO_INCREMENT, d decimal(10,2) DEFAULT '1.50', "
             "e enum('x','y'), v varchar(32) CHARACTER SET utf8mb4, f double(8,3), PRIMARY KEY (id))")
    table = loads(encoder().encode_ddl(DDLEvent("s", "t", 1, query))[1])["payload"]["tableChanges"][0]["table"]  # type: ignore[index]
    assert table["primaryKeyColumnNames"] == ["id"]
    by_name = {column["name"]: column for column in table["columns"]}
    assert by_name["id"] | {} == {
        "name": "id", "jdbcType": -5, "nativeType": None, "comment": None, "defaultValueExpression": None,
        "enumValues": None, "typeName": "BIGINT UNSIGNED", "typeExpression": "BIGINT UNSIGNED", "charsetName": None,
        "length": None, "scale": None, "position": 1, "optional": False, "autoIncremented": True, "generated": True,
    }
    assert (by_name["d"]["typeName"], by_name["d"]["length"], by_name["d"]["scale"], by_name["d"]["defaultValueExpression"]) == (
        "DECIMAL", 10, 2, "1.50")
    assert (by_name["e"]["enumValues"], by_name["e"]["jdbcType"], by_name["e"]["length"], by_name["e"]["charsetName"]) == (
        ["'x'", "'y'"], 1, 1, "utf8mb4")
    assert (by_name["v"]["typeName"], by_name["v"]["length"]) == ("VARCHAR", 32)
    assert (by_name["f"]["typeExpression"], by_name["f"]["scale"]) == ("DOUBLE(8,3)", 3)


# -- watermarks: codec_test.go TestCheckPointEvent ----------------------------------------------


def test_watermark_needs_the_tidb_extension():
    # ticdc encoder.go:46-48: no checkpoint message without enable-tidb-extension
    assert encoder().encode_watermark(3) is None


def test_watermark_message():
    # ticdc codec_test.go:588 TestCheckPointEvent. TiCDC's test calls the codec without the extension, so its
    # source schema lacks commit_ts and cluster_id; with the extension (the only way encoder.go:46 sends a
    # watermark) writeSourceSchema adds them (codec.go:981-992).
    key, value = encoder(enable_tidb_extension=True).encode_watermark(3)  # type: ignore[misc]
    assert loads(key) == expected.CODEC_TEST_601
    want = copy.deepcopy(expected.CODEC_TEST_611)
    want["schema"]["fields"][0]["fields"] += [
        {"type": "int64", "optional": False, "field": "commit_ts"},
        {"type": "string", "optional": False, "field": "cluster_id"},
    ]
    assert loads(value) == want


def test_null_is_written_as_null():
    # ticdc codec.go:605-613 writes a column's default value in place of NULL when it has one; the input
    # declares no defaults, so cdcsink writes null (README: known differences).
    event = RowEvent("test", "t", 1, "insert", ["id"], {"id": "int", "n": "int", "s": "varchar(8)"}, None,
                     {"id": 1, "n": None, "s": None})
    assert loads(encoder().encode_row(event)[1])["payload"]["after"] == {"id": 1, "n": None, "s": None}
