import orjson
import pytest

from cdcsink.codec.canal_json.encoder import CanalJsonEncoder, canal_value
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DDLEvent, RowEvent

COLUMNS = {"id": "bigint", "amount": "decimal(10,2)", "note": "varchar(64)"}


def encoder(ext: bool = True, limit: int = 1 << 20) -> CanalJsonEncoder:
    return CanalJsonEncoder(EncoderOptions("canal-json", ext, limit, clock_ms=lambda: 1700000000123))


def test_update_golden_bytes():
    e = RowEvent("shop", "orders", 449, "update", ["id"], COLUMNS,
                 {"id": 1, "amount": "9.99", "note": None}, {"id": 1, "amount": "19.99", "note": "x"}, 1652109688508)
    (key, value), = encoder().encode_rows([e])
    assert key is None
    assert value == (
        b'{"id":0,"database":"shop","table":"orders","pkNames":["id"],"isDdl":false,"type":"UPDATE",'
        b'"es":1652109688508,"ts":1700000000123,"sql":"",'
        b'"sqlType":{"id":-5,"amount":3,"note":12},'
        b'"mysqlType":{"id":"bigint","amount":"decimal(10,2)","note":"varchar(64)"},'
        b'"data":[{"id":"1","amount":"19.99","note":"x"}],"old":[{"id":"1","amount":"9.99","note":null}],'
        b'"_tidb":{"commitTs":449}}'
    )


def test_insert_and_delete_fields():
    ins = RowEvent("shop", "orders", 5, "insert", ["id"], COLUMNS, None, {"id": 2, "amount": "1.00", "note": "n"})
    dele = RowEvent("shop", "orders", 6, "delete", ["id"], COLUMNS, {"id": 2, "amount": "1.00", "note": "n"}, None)
    m_ins, m_del = (orjson.loads(v) for _, v in encoder(ext=False).encode_rows([ins, dele]))
    assert m_ins["type"] == "INSERT" and m_ins["data"] == [{"id": "2", "amount": "1.00", "note": "n"}] and m_ins["old"] is None
    assert m_del["type"] == "DELETE" and m_del["data"] == [{"id": "2", "amount": "1.00", "note": "n"}] and m_del["old"] is None
    assert "_tidb" not in m_ins and m_ins["es"] == 0
    assert list(m_ins) == ["id", "database", "table", "pkNames", "isDdl", "type", "es", "ts", "sql", "sqlType", "mysqlType", "data", "old"]


def test_ddl_golden_bytes():
    e = DDLEvent("shop", "orders", 1002, "ALTER TABLE orders ADD COLUMN x INT")
    key, value = encoder().encode_ddl(e)
    assert key is None
    assert value == (
        b'{"id":0,"database":"shop","table":"orders","pkNames":null,"isDdl":true,"type":"ALTER",'
        b'"es":0,"ts":1700000000123,"sql":"ALTER TABLE orders ADD COLUMN x INT",'
        b'"sqlType":null,"mysqlType":null,"data":null,"old":null,"_tidb":{"commitTs":1002}}'
    )
    assert encoder().ddl_to_all_partitions is False


def test_watermark_only_with_extension():
    assert encoder(ext=False).encode_watermark(7) is None
    key, value = encoder().encode_watermark(449)
    assert value == (
        b'{"id":0,"database":"","table":"","pkNames":null,"isDdl":false,"type":"TIDB_WATERMARK",'
        b'"es":1700000000123,"ts":1700000000123,"sql":"","sqlType":null,"mysqlType":null,'
        b'"data":null,"old":null,"_tidb":{"watermarkTs":449}}'
    )


def test_schema_change_is_picked_up():
    enc = encoder()
    a = RowEvent("s", "t", 1, "insert", ["id"], {"id": "int"}, None, {"id": 1})
    b = RowEvent("s", "t", 2, "insert", ["id"], {"id": "int", "c": "datetime"}, None, {"id": 1, "c": "2025-01-01 00:00:00"})
    first, second = (orjson.loads(v) for _, v in enc.encode_rows([a, b]))
    assert first["mysqlType"] == {"id": "int"}
    assert second["mysqlType"] == {"id": "int", "c": "datetime"} and second["sqlType"] == {"id": 4, "c": 93}


@pytest.mark.parametrize(
    "value, text",
    [(1, "1"), (-5, "-5"), (True, "1"), (False, "0"), (9.5, "9.5"), (1e20, "100000000000000000000"),
     (1.5e-7, "0.00000015"), ("s", "s"), (None, None), ({"a": [1]}, '{"a":[1]}')],
)
def test_value_strings(value, text):
    assert canal_value(value) == text


def test_oversized_row_names_the_event():
    big = RowEvent("shop", "orders", 77, "insert", ["id"], COLUMNS, None, {"id": 5, "amount": "1", "note": "x" * 600})
    with pytest.raises(MessageTooLargeError, match=r"shop.orders commit_ts=77 pk=\{'id': 5\}"):
        encoder(limit=500).encode_rows([big])
    small = RowEvent("shop", "orders", 78, "insert", ["id"], COLUMNS, None, {"id": 5, "amount": "1", "note": "x"})
    (_, value), = encoder(limit=500).encode_rows([small])
    assert len(value) <= 500


def trimming(**options) -> CanalJsonEncoder:
    return CanalJsonEncoder(EncoderOptions("canal-json", False, 1 << 20, clock_ms=lambda: 1, **options))


def test_only_output_updated_columns_keeps_only_changed_columns_in_old():
    # amount changed; note unchanged; id unchanged; n from 1 to 1.0 changes type: kept, as TiCDC keeps a type change.
    columns = {**COLUMNS, "n": "double"}
    e = RowEvent("shop", "orders", 7, "update", ["id"], columns,
                 {"id": 1, "amount": "9.99", "note": "x", "n": 1}, {"id": 1, "amount": "19.99", "note": "x", "n": 1.0})
    (_, value), = trimming(only_output_updated_columns=True).encode_rows([e])
    message = orjson.loads(value)
    assert message["old"] == [{"amount": "9.99", "n": "1"}]
    assert message["data"] == [{"id": "1", "amount": "19.99", "note": "x", "n": "1.0"}]  # the new image stays whole
    (_, untouched), = trimming().encode_rows([e])
    assert orjson.loads(untouched)["old"] == [{"id": "1", "amount": "9.99", "note": "x", "n": "1"}]
    same = RowEvent("shop", "orders", 8, "update", ["id"], COLUMNS, {"id": 1, "note": None}, {"id": 1, "note": None})
    (_, nothing), = trimming(only_output_updated_columns=True).encode_rows([same])
    assert orjson.loads(nothing)["old"] == [{}]


def test_delete_only_output_handle_key_columns_trims_data_and_types():
    e = RowEvent("shop", "orders", 9, "delete", ["id"], COLUMNS, {"id": 2, "amount": "1.00", "note": "n"}, None)
    (_, value), = trimming(delete_only_output_handle_key_columns=True).encode_rows([e])
    message = orjson.loads(value)
    assert message["data"] == [{"id": "2"}]
    assert message["sqlType"] == {"id": -5} and message["mysqlType"] == {"id": "bigint"}
    # Inserts and updates are untouched, and the table's full types come back for them.
    ins = RowEvent("shop", "orders", 10, "insert", ["id"], COLUMNS, None, {"id": 3, "amount": "2.00", "note": None})
    (_, inserted), = trimming(delete_only_output_handle_key_columns=True).encode_rows([ins])
    assert orjson.loads(inserted)["mysqlType"] == COLUMNS
    # A table without a pk keeps every column: nothing else could name the row.
    no_pk = RowEvent("shop", "log", 11, "delete", [], {"a": "int", "b": "int"}, {"a": 1, "b": 2}, None)
    (_, kept), = trimming(delete_only_output_handle_key_columns=True).encode_rows([no_pk])
    assert orjson.loads(kept)["data"] == [{"a": "1", "b": "2"}]
