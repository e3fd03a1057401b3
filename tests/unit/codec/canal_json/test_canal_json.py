"""canal-json message layout, DDL and watermark messages, payload options and
sizes, against TiCDC's encoder and tests (paths as in test_golden_types.py)."""

import re

import orjson
import pytest

from cdcsink.codec.canal_json.encoder import CanalJsonEncoder, canal_value
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import parse_column
from cdcsink.errors import InvalidEventError, MessageTooLargeError
from cdcsink.events import DDLEvent, RowEvent

COLUMNS = {"id": "bigint", "amount": "decimal(10,2)", "note": "varchar(64)"}
TSO = 417318403368288260  # physical part 1591943372224 (tiflow@9be2dddc^ canal_json_row_event_encoder_test.go:570)


def encoder(ext: bool = True, limit: int = 1 << 20, **options) -> CanalJsonEncoder:
    return CanalJsonEncoder(EncoderOptions("canal-json", ext, limit, clock_ms=lambda: 1700000000123, **options))


def test_update_golden_bytes():
    # ticdc pkg/sink/codec/canal/canal_json_encoder.go:160-345: the fields in this order, "old" before "data",
    # es = commitTs >> 18 (:201, helper.go:206-207), _tidb.commitTs last (:318-322).
    e = RowEvent("shop", "orders", TSO, "update", ["id"], COLUMNS,
                 {"id": 1, "amount": "9.99", "note": None}, {"id": 1, "amount": "19.99", "note": "x"})
    (key, value), = encoder().encode_rows([e])
    assert key is None
    assert value == (
        b'{"id":0,"database":"shop","table":"orders","pkNames":["id"],"isDdl":false,"type":"UPDATE",'
        b'"es":1591943372224,"ts":1700000000123,"sql":"",'
        b'"sqlType":{"id":-5,"amount":3,"note":12},'
        b'"mysqlType":{"id":"bigint","amount":"decimal","note":"varchar"},'
        b'"old":[{"id":"1","amount":"9.99","note":null}],"data":[{"id":"1","amount":"19.99","note":"x"}],'
        b'"_tidb":{"commitTs":417318403368288260}}'
    )


def test_insert_golden_bytes_of_the_max_message_bytes_row():
    # tiflow pkg/sink/codec/canal/canal_json_row_event_encoder_test.go:623-627 (ticdc canal_json_encoder_test.go:637-641):
    # create table test.t(a varchar(255) primary key); insert into test.t values ("aa"); no TiDB extension.
    e = RowEvent("test", "t", TSO, "insert", ["a"], {"a": "varchar(255)"}, None, {"a": "aa"})
    (_, value), = encoder(ext=False).encode_rows([e])
    assert value == (
        b'{"id":0,"database":"test","table":"t","pkNames":["a"],"isDdl":false,"type":"INSERT",'
        b'"es":1591943372224,"ts":1700000000123,"sql":"","sqlType":{"a":12},"mysqlType":{"a":"varchar"},'
        b'"old":null,"data":[{"a":"aa"}]}'
    )


def test_max_message_bytes_counts_the_record_overhead():
    # tiflow canal_json_row_event_encoder_test.go:632-651 / ticdc canal_json_encoder_test.go:649-678: the row above fits
    # 300 bytes and not 100. TiCDC compares len(key) + len(value) + 36 (ticdc common/message.go:26 and :93-95).
    e = RowEvent("test", "t", TSO, "insert", ["a"], {"a": "varchar(255)"}, None, {"a": "aa"})
    assert encoder(ext=False, limit=300).encode_row(e)[1]
    with pytest.raises(MessageTooLargeError):
        encoder(ext=False, limit=100).encode_row(e)
    size = len(encoder(ext=False).encode_row(e)[1])
    assert encoder(ext=False, limit=size + 36).encode_row(e)[1]
    with pytest.raises(MessageTooLargeError, match=rf"message of {size + 36} bytes .* max-message-bytes \({size + 35} bytes"):
        encoder(ext=False, limit=size + 35).encode_row(e)


def test_insert_and_delete_fields():
    ins = RowEvent("shop", "orders", 5, "insert", ["id"], COLUMNS, None, {"id": 2, "amount": "1.00", "note": "n"})
    dele = RowEvent("shop", "orders", 6, "delete", ["id"], COLUMNS, {"id": 2, "amount": "1.00", "note": "n"}, None)
    m_ins, m_del = (orjson.loads(v) for _, v in encoder(ext=False).encode_rows([ins, dele]))
    # ticdc canal_json_encoder.go:281-292: insert and delete both write old null and the row in data.
    assert m_ins["type"] == "INSERT" and m_ins["data"] == [{"id": "2", "amount": "1.00", "note": "n"}] and m_ins["old"] is None
    assert m_del["type"] == "DELETE" and m_del["data"] == [{"id": "2", "amount": "1.00", "note": "n"}] and m_del["old"] is None
    assert "_tidb" not in m_ins and m_ins["es"] == 5 >> 18
    assert list(m_ins) == ["id", "database", "table", "pkNames", "isDdl", "type", "es", "ts", "sql", "sqlType", "mysqlType", "old", "data"]


def test_es_is_the_commit_time_when_the_input_gives_one():
    """Known difference: TiCDC always writes commitTs >> 18 (its commit ts is a TSO);
    cdcsink writes the input's commit_time_ms when there is one, so that a
    commit_ts that is not a TSO (an LSN, a counter) still gives a real time."""
    e = RowEvent("shop", "orders", TSO, "insert", ["id"], COLUMNS, None, {"id": 2, "amount": "1.00", "note": "n"}, 1652109688508)
    assert orjson.loads(encoder().encode_row(e)[1])["es"] == 1652109688508
    e.commit_time_ms = None
    assert orjson.loads(encoder().encode_row(e)[1])["es"] == 1591943372224  # TSO >> 18


def test_pk_names_follow_the_table_order():
    # ticdc pkg/common/event/row_change.go:129-140 (PrimaryKeyColumnNames): table order, [] without a primary key;
    # ticdc canal_json_test.go:575 declares PRIMARY KEY (a, b) on columns a, c, b.
    columns = {"a": "tinyint", "c": "int", "b": "tinyint"}
    e = RowEvent("test", "t", 1, "insert", ["b", "a"], columns, None, {"a": 1, "c": 2, "b": 3})
    assert orjson.loads(encoder().encode_row(e)[1])["pkNames"] == ["a", "b"]
    e = RowEvent("test", "log", 1, "insert", [], {"a": "int"}, None, {"a": 1})
    assert orjson.loads(encoder().encode_row(e)[1])["pkNames"] == []


def test_ddl_golden_bytes():
    # tiflow@9be2dddc^ pkg/sink/codec/canal/canal_json_row_event_encoder_test.go:541-580 (TestDDLEventWithExtensionValueMarshal):
    # the DDL of canal_test_util.go:357-366 with the build time set to 1469579899, in the struct's field order.
    e = DDLEvent("cdc", "person", TSO, "create table person(id int, name varchar(32), tiny tinyint unsigned, comment text, primary key(id))")
    enc = CanalJsonEncoder(EncoderOptions("canal-json", True, clock_ms=lambda: 1469579899))
    key, value = enc.encode_ddl(e)
    assert key is None
    assert value == (
        b'{"id":0,"database":"cdc","table":"person","pkNames":null,"isDdl":true,"type":"CREATE",'
        b'"es":1591943372224,"ts":1469579899,"sql":"create table person(id int, name varchar(32), tiny tinyint unsigned, '
        b'comment text, primary key(id))","sqlType":null,"mysqlType":null,"data":null,"old":null,'
        b'"_tidb":{"commitTs":417318403368288260}}'
    )
    assert enc.ddl_to_all_partitions is False
    # Without the extension there is no _tidb (ticdc canal_json_encoder.go:395-397).
    plain = orjson.loads(encoder(ext=False).encode_ddl(e)[1])
    assert "_tidb" not in plain and plain["type"] == "CREATE" and plain["es"] == 1591943372224


def test_watermark_golden_bytes():
    # tiflow@9be2dddc^ canal_json_row_event_encoder_test.go:488-538 (TestCheckpointEventValueMarshal): watermark 1024,
    # es = 1024 >> 18 = 0 (ticdc canal_json_encoder.go:414), build time set to 1469579899.
    enc = CanalJsonEncoder(EncoderOptions("canal-json", True, clock_ms=lambda: 1469579899))
    assert encoder(ext=False).encode_watermark(7) is None  # ticdc canal_json_encoder.go:424-426
    key, value = enc.encode_watermark(1024)
    assert key is None
    assert value == (
        b'{"id":0,"database":"","table":"","pkNames":null,"isDdl":false,"type":"TIDB_WATERMARK",'
        b'"es":0,"ts":1469579899,"sql":"","sqlType":null,"mysqlType":null,'
        b'"data":null,"old":null,"_tidb":{"watermarkTs":1024}}'
    )
    assert orjson.loads(enc.encode_watermark(TSO)[1])["es"] == 1591943372224
    # A watermark of 0 (before any resolved ts) still names watermarkTs: TiCDC's omitempty struct tag
    # (ticdc canal_json_message.go:128) would drop a zero, but TiCDC never sends one, and a consumer
    # reading _tidb.watermarkTs should find it.
    assert orjson.loads(enc.encode_watermark(0)[1])["_tidb"] == {"watermarkTs": 0}


def test_strings_are_escaped_as_go_escapes_them():
    # ticdc canal_json_encoder.go:67 writes values with easyjson's jwriter.String: <, > and & as \u003c \u003e \u0026,
    # \n \r \t \" \\ short, other bytes below 0x20 as \u00XX (so \b is \u0008), U+2028/9 escaped, the rest raw UTF-8.
    columns = {"id": "int", "s": "varchar(64)"}
    e = RowEvent("test", "t", 1, "insert", ["id"], columns, None, {"id": 1, "s": 'a<b>&c\b\f\x1a\x7f\n\r\t"\\b\u2028\u2029é'})
    value = encoder(ext=False).encode_row(e)[1]
    assert b'"s":"a\\u003cb\\u003e\\u0026c\\u0008\\u000c\\u001a\x7f\\n\\r\\t\\"\\\\b\\u2028\\u2029\xc3\xa9"' in value
    assert orjson.loads(value)["data"][0]["s"] == 'a<b>&c\b\f\x1a\x7f\n\r\t"\\b\u2028\u2029é'
    # goccy/go-json (DDL messages, ticdc canal_json_encoder.go:513) escapes the same way.
    ddl = encoder(ext=False).encode_ddl(DDLEvent("s", "t", 1, "ALTER TABLE t COMMENT '<&>'"))[1]
    assert b'"sql":"ALTER TABLE t COMMENT \'\\u003c\\u0026\\u003e\'"' in ddl


def test_schema_change_is_picked_up():
    enc = encoder()
    a = RowEvent("s", "t", 1, "insert", ["id"], {"id": "int"}, None, {"id": 1})
    b = RowEvent("s", "t", 2, "insert", ["id"], {"id": "int", "c": "datetime"}, None, {"id": 1, "c": "2025-01-01 00:00:00"})
    first, second = (orjson.loads(v) for _, v in enc.encode_rows([a, b]))
    assert first["mysqlType"] == {"id": "int"}
    assert second["mysqlType"] == {"id": "int", "c": "datetime"} and second["sqlType"] == {"id": 4, "c": 93}


@pytest.mark.parametrize(
    "declared, value, text",
    [("int", 1, "1"), ("int", -5, "-5"), ("tinyint(1)", True, "1"), ("bool", False, "0"), ("double", 9.5, "9.5"),
     ("double", 1e20, "100000000000000000000"), ("double", 1.5e-7, "0.00000015"), ("double", 2.0, "2"),
     ("varchar(3)", "s", "s"), ("int", None, None), ("json", '{"a":[1]}', '{"a":[1]}'), ("enum('x','y')", 2, "2"),
     ("set('x','y')", 3, "3"), ("varbinary(4)", b"\xff\x00", "\xff\x00"), ("year", 2155, "2155"), ("bit(64)", 2**64 - 1, str(2**64 - 1))],
)
def test_value_strings(declared, value, text):
    # ticdc pkg/sink/codec/canal/helper.go:97-203 (formatColumnValue)
    assert canal_value(parse_column("c", declared, 0, False), value) == text


@pytest.mark.parametrize(
    "declared, value, expected",
    [("int", "1", "an integer"), ("varbinary(4)", "ab", "bytes"), ("enum('a')", "a", "an integer"),
     ("decimal(5,2)", 1.5, "a string"), ("json", {"a": 1}, "a string"), ("float", "x", "a number"),
     ("float", 1e300, "a number within the float range")],
)
def test_a_value_of_another_type_is_refused_naming_the_column(declared, value, expected):
    e = RowEvent("shop", "t", 9, "insert", ["id"], {"id": "int", "c": declared}, None, {"id": 1, "c": value})
    with pytest.raises(InvalidEventError, match=rf"shop.t commit_ts=9 .*: column 'c' \({re.escape(declared)}\): expected {expected}"):
        encoder().encode_row(e)


def test_a_column_not_in_columns_is_refused():
    e = RowEvent("shop", "t", 9, "insert", ["id"], {"id": "int"}, None, {"id": 1, "extra": 2})
    with pytest.raises(InvalidEventError, match="column 'extra' is not in columns"):
        encoder().encode_row(e)


def test_oversized_row_names_the_event():
    big = RowEvent("shop", "orders", 77, "insert", ["id"], COLUMNS, None, {"id": 5, "amount": "1", "note": "x" * 600})
    with pytest.raises(MessageTooLargeError, match=r"shop.orders commit_ts=77 pk=\{'id': 5\}"):
        encoder(limit=500).encode_rows([big])
    small = RowEvent("shop", "orders", 78, "insert", ["id"], COLUMNS, None, {"id": 5, "amount": "1", "note": "x"})
    (_, value), = encoder(limit=500).encode_rows([small])
    assert len(value) + 36 <= 500


def trimming(**options) -> CanalJsonEncoder:
    return CanalJsonEncoder(EncoderOptions("canal-json", False, 1 << 20, clock_ms=lambda: 1, **options))


def test_only_output_updated_columns_keeps_only_changed_columns_in_old():
    # ticdc canal_json_encoder.go:98-101: a column is left out of old when its written value is the same
    # string (or both null) in the old and new image; so a double written "1" both times is unchanged.
    columns = {**COLUMNS, "n": "double"}
    e = RowEvent("shop", "orders", 7, "update", ["id"], columns,
                 {"id": 1, "amount": "9.99", "note": "x", "n": 1.0}, {"id": 1, "amount": "19.99", "note": "x", "n": 1.0})
    (_, value), = trimming(only_output_updated_columns=True).encode_rows([e])
    message = orjson.loads(value)
    assert message["old"] == [{"amount": "9.99"}]
    assert message["data"] == [{"id": "1", "amount": "19.99", "note": "x", "n": "1"}]  # the new image stays whole
    (_, untouched), = trimming().encode_rows([e])
    assert orjson.loads(untouched)["old"] == [{"id": "1", "amount": "9.99", "note": "x", "n": "1"}]
    # tiflow@9be2dddc^ canal_json_row_event_encoder_test.go:168-189: an update that changes nothing has "old":[{}].
    same = RowEvent("shop", "orders", 8, "update", ["id"], COLUMNS, {"id": 1, "note": None}, {"id": 1, "note": None})
    (_, nothing), = trimming(only_output_updated_columns=True).encode_rows([same])
    assert orjson.loads(nothing)["old"] == [{}]


def test_content_compatible_implies_only_output_updated_columns():
    # ticdc pkg/sink/codec/common/config.go:302-306: content-compatible turns on only-output-updated-columns.
    e = RowEvent("shop", "orders", 7, "update", ["id"], COLUMNS,
                 {"id": 1, "amount": "9.99", "note": "x"}, {"id": 1, "amount": "19.99", "note": "x"})
    message = orjson.loads(trimming(content_compatible=True).encode_row(e)[1])
    assert message["old"] == [{"amount": "9.99"}]
    assert message["mysqlType"] == {"id": "bigint(20)", "amount": "decimal(10,2)", "note": "varchar(64)"}


def test_delete_only_output_handle_key_columns_trims_data_and_types():
    # ticdc canal_json_encoder.go:137-140 and :237-239: a delete carries only the handle-key columns in data,
    # sqlType and mysqlType.
    e = RowEvent("shop", "orders", 9, "delete", ["id"], COLUMNS, {"id": 2, "amount": "1.00", "note": "n"}, None)
    (_, value), = trimming(delete_only_output_handle_key_columns=True).encode_rows([e])
    message = orjson.loads(value)
    assert message["data"] == [{"id": "2"}]
    assert message["sqlType"] == {"id": -5} and message["mysqlType"] == {"id": "bigint"}
    # Inserts and updates are untouched, and the table's full types come back for them.
    ins = RowEvent("shop", "orders", 10, "insert", ["id"], COLUMNS, None, {"id": 3, "amount": "2.00", "note": None})
    (_, inserted), = trimming(delete_only_output_handle_key_columns=True).encode_rows([ins])
    assert orjson.loads(inserted)["mysqlType"] == {"id": "bigint", "amount": "decimal", "note": "varchar"}
    # A table without a pk keeps every column: nothing else could name the row (TiCDC refuses this option
    # for tables without a handle key: ticdc common/config.go:297-300 requires force-replicate off).
    no_pk = RowEvent("shop", "log", 11, "delete", [], {"a": "int", "b": "int"}, {"a": 1, "b": 2}, None)
    (_, kept), = trimming(delete_only_output_handle_key_columns=True).encode_rows([no_pk])
    assert orjson.loads(kept)["data"] == [{"a": "1", "b": "2"}]


def test_the_unsigned_promotion_follows_the_new_image():
    # ticdc canal_json_encoder.go:217-229: sqlType comes from the row's new values (the old ones for a delete).
    columns = {"id": "int", "u": "tinyint unsigned"}
    update = RowEvent("s", "t", 1, "update", ["id"], columns, {"id": 1, "u": 200}, {"id": 1, "u": 5})
    assert orjson.loads(encoder().encode_row(update)[1])["sqlType"] == {"id": 4, "u": -6}
    delete = RowEvent("s", "t", 1, "delete", ["id"], columns, {"id": 1, "u": 200}, None)
    assert orjson.loads(encoder().encode_row(delete)[1])["sqlType"] == {"id": 4, "u": 5}


def test_content_compatible_is_a_sink_parameter():
    # ticdc pkg/sink/codec/common/config.go:190 (the URI parameter content-compatible) and :302-306.
    from cdcsink.pipeline import encoder_options
    from cdcsink.sink.config import SinkConfig

    base = "kafka://k:9092/t?protocol=canal-json"
    on = encoder_options(SinkConfig(uri=base + "&content-compatible=true"), 1000)
    assert on.content_compatible is True and on.max_message_bytes == 1000
    assert encoder_options(SinkConfig(uri=base, **{"content-compatible": True}), 1000).content_compatible is True
    assert encoder_options(SinkConfig(uri=base), 1000).content_compatible is False
    e = RowEvent("shop", "orders", 7, "insert", ["id"], COLUMNS, None, {"id": 1, "amount": "9.99", "note": "x"})
    assert orjson.loads(CanalJsonEncoder(on).encode_row(e)[1])["mysqlType"]["amount"] == "decimal(10,2)"


def test_the_encoder_limit_leaves_room_for_a_record_batch_header():
    """The pipeline hands the encoder the topic's cap less a record batch header
    (61 bytes), so a message TiCDC's count lets through also fits in a batch."""
    from cdcsink.kafka.options import RECORD_BATCH_OVERHEAD, KafkaOptions

    assert KafkaOptions(brokers=["k:9092"], max_message_bytes=1_000_000).max_encoded_bytes == 1_000_000 - RECORD_BATCH_OVERHEAD


def test_columns_the_table_model_cannot_read_are_refused_in_one_line():
    e = RowEvent("shop", "t", 9, "insert", [], {"c": "geography_v2"}, None, {"c": "x"})
    with pytest.raises(InvalidEventError, match=r"^shop.t commit_ts=9: column 'c': unknown MySQL type 'geography_v2'"):
        encoder().encode_row(e)
