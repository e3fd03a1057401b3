"""The canal-json decoder reads messages as TiCDC's consumer does, and fails where
it fails (ticdc pkg/sink/codec/canal/canal_json_decoder.go; tiflow
pkg/sink/codec/canal/canal_json_message.go and canal_json_txn_event_decoder_test.go)."""

from __future__ import annotations

import random

import orjson
import pytest

from cdcsink.codec.canal_json.encoder import CanalJsonEncoder
from cdcsink.codec.common.large import decompress
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import build_decoder
from cdcsink.errors import MessageDecodeError
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent

# tiflow pkg/sink/codec/canal/canal_json_txn_event_decoder_test.go:98-100 (messages as TiCDC wrote them, no extension)
EMPLOYEE = [
    b'{"id":0,"database":"test","table":"employee","pkNames":["id"],"isDdl":false,"type":"INSERT","es":1668067205238,"ts":1668067206650,"sql":"","sqlType":{"FirstName":12,"HireDate":91,"LastName":12,"OfficeLocation":12,"id":4},"mysqlType":{"FirstName":"varchar","HireDate":"date","LastName":"varchar","OfficeLocation":"varchar","id":"int"},"data":[{"FirstName":"Bob","HireDate":"2014-06-04","LastName":"Smith","OfficeLocation":"New York","id":"101"}],"old":null}',
    b'{"id":0,"database":"test","table":"employee","pkNames":["id"],"isDdl":false,"type":"UPDATE","es":1668067229137,"ts":1668067230720,"sql":"","sqlType":{"FirstName":12,"HireDate":91,"LastName":12,"OfficeLocation":12,"id":4},"mysqlType":{"FirstName":"varchar","HireDate":"date","LastName":"varchar","OfficeLocation":"varchar","id":"int"},"data":[{"FirstName":"Bob","HireDate":"2015-10-08","LastName":"Smith","OfficeLocation":"Los Angeles","id":"101"}],"old":[{"FirstName":"Bob","HireDate":"2014-06-04","LastName":"Smith","OfficeLocation":"New York","id":"101"}]}',
    b'{"id":0,"database":"test","table":"employee","pkNames":["id"],"isDdl":false,"type":"DELETE","es":1668067230388,"ts":1668067231725,"sql":"","sqlType":{"FirstName":12,"HireDate":91,"LastName":12,"OfficeLocation":12,"id":4},"mysqlType":{"FirstName":"varchar","HireDate":"date","LastName":"varchar","OfficeLocation":"varchar","id":"int"},"data":[{"FirstName":"Bob","HireDate":"2015-10-08","LastName":"Smith","OfficeLocation":"Los Angeles","id":"101"}],"old":null}',
]


def decoder(extension: bool = True, compression: str = "none"):
    return build_decoder(EncoderOptions("canal-json", extension, large_message_handle_compression=compression))


def row_message(mysql_type: dict, data: dict | None, kind: str = "INSERT", old: dict | None = None, **extra) -> bytes:
    message = {"id": 0, "database": "test", "table": "t", "pkNames": ["id"], "isDdl": False, "type": kind, "es": 1,
               "ts": 2, "sql": "", "sqlType": {}, "mysqlType": mysql_type,
               "old": [old] if old is not None else None, "data": [data] if data is not None else None, **extra}
    return orjson.dumps(message)


def test_messages_ticdc_wrote():
    dec = decoder(extension=False)
    inserted, updated, deleted = (dec.decode(None, value)[0] for value in EMPLOYEE)
    assert isinstance(inserted, RowEvent) and inserted.op == "insert" and inserted.before is None
    assert inserted.after == {"FirstName": "Bob", "HireDate": "2014-06-04", "LastName": "Smith", "OfficeLocation": "New York", "id": 101}
    assert inserted.commit_ts == 0 and inserted.commit_time_ms == 1668067205238  # no extension, no commit ts
    assert inserted.table_info.column("id").type_name == "int" and inserted.table_info.pk == ("id",)
    assert updated.op == "update" and updated.before["HireDate"] == "2014-06-04" and updated.after["HireDate"] == "2015-10-08"
    assert deleted.op == "delete" and deleted.after is None and deleted.before["OfficeLocation"] == "Los Angeles"


def test_ddl_and_watermark_messages():
    # ticdc canal_json_decoder.go:399-435
    enc = CanalJsonEncoder(EncoderOptions("canal-json", True))
    ddl = DDLEvent("shop", "orders", 1002, "ALTER TABLE orders ADD COLUMN x INT")
    (decoded,) = decoder().decode(*enc.encode_ddl(ddl))
    assert isinstance(decoded, DDLEvent) and (decoded.schema, decoded.table, decoded.commit_ts, decoded.query) == (
        "shop", "orders", 1002, ddl.query)
    (schema_level,) = decoder().decode(*enc.encode_ddl(DDLEvent("shop", None, 1003, "CREATE DATABASE shop")))
    assert schema_level.table is None
    (watermark,) = decoder().decode(*enc.encode_watermark(2333))
    assert isinstance(watermark, ResolvedEvent) and watermark.commit_ts == 2333
    # ticdc canal_json_decoder.go:429-433: a watermark read without the extension is refused.
    with pytest.raises(MessageDecodeError, match="resolved event message should have tidb extension"):
        decoder(extension=False).decode(*enc.encode_watermark(2333))


@pytest.mark.parametrize(
    "mysql_type, raw, reason",
    [
        # ticdc canal_json_decoder.go:528-532: an enum must be its index; tiflow canal_json_message.go:416-419 likewise.
        ("enum", "a", "invalid column value for enum"),
        ("enum('a','b')", "a", "invalid column value for enum"),
        ("set", "a,b", "invalid column value for set"),  # :537-541
        ("bit", "b'101'", "invalid column value for bit"),  # :546-550
        ("int", "1.5", "invalid column value for integer"),  # :474-477
        ("int", "9223372036854775808", "invalid column value for integer"),
        ("bigint unsigned", "-1", "invalid column value for unsigned integer"),  # :467-471
        ("bigint unsigned", "18446744073709551616", "invalid column value for unsigned integer"),
        ("year", "two", "invalid column value for year"),  # :479-484
        ("float", "1e39", "invalid column value for float"),  # :485-490, ParseFloat(.., 32) range error
        ("double", "1e400", "invalid column value for double"),  # :491-496
        ("double", "1_000", "invalid column value for double"),
        ("decimal", "12a", "invalid column value for decimal"),  # :500-506
        ("datetime", "2020-13-01 00:00:00", "invalid column value for time"),  # :507-513
        ("time", "25:61:00", "invalid column value for duration"),  # :522-527
        ("json", "{bad", "invalid column value for json"),  # :553-558
        ("varbinary", "\u4e2d", "invalid column value for binary"),  # :457-463, ISO-8859-1 has no U+4E2D
        ("geometry", "\x00", "invalid column value for type 'geometry'"),  # :565-567, unknown column type
        ("vector", "[1,2]", "invalid column value for type 'vector'"),
    ],
)
def test_values_ticdc_cannot_decode_are_refused(mysql_type, raw, reason):
    message = row_message({"id": "int", "c": mysql_type}, {"id": "1", "c": raw})
    with pytest.raises(MessageDecodeError, match=reason):
        decoder().decode(None, message)


def test_a_value_that_is_not_a_string_is_refused():
    # ticdc canal_json_decoder.go:453-456
    with pytest.raises(MessageDecodeError, match="should have type in `string`"):
        decoder().decode(None, row_message({"id": "int"}, {"id": 1}))


def test_a_data_column_without_a_mysql_type_is_refused():
    # tiflow canal_json_message.go:343-348 ("mysql type does not found")
    with pytest.raises(MessageDecodeError, match="mysql type does not found, column: 'c'"):
        decoder().decode(None, row_message({"id": "int"}, {"id": "1", "c": "x"}))


def test_an_unknown_row_type_is_refused():
    # ticdc canal_json_decoder.go:393-395
    with pytest.raises(MessageDecodeError, match="unknown event type for the DML event: 'UPSERT'"):
        decoder().decode(None, row_message({"id": "int"}, {"id": "1"}, kind="UPSERT"))


def test_not_json_is_refused():
    with pytest.raises(MessageDecodeError, match="not JSON"):
        decoder().decode(None, b"{nope")


def test_null_and_missing_values():
    # ticdc canal_json_decoder.go:437-452 and common/test_helper.go:31-42: a column missing from data is NULL.
    (event,) = decoder().decode(None, row_message({"id": "int", "a": "varchar", "b": "int"}, {"id": "1", "a": None}))
    assert event.after == {"id": 1, "a": None, "b": None}


def test_update_old_holds_only_changed_columns():
    # ticdc canal_json_decoder.go:381-388: a column missing from old takes its new value.
    message = row_message({"id": "int", "a": "varchar", "b": "int"}, {"id": "1", "a": "new", "b": "7"}, "UPDATE", {"a": "old"})
    (event,) = decoder().decode(None, message)
    assert event.before == {"id": 1, "a": "old", "b": 7} and event.after == {"id": 1, "a": "new", "b": 7}


def test_canonical_values_come_back():
    types = {"id": "int", "u": "bigint unsigned", "f": "float", "d": "double", "b": "blob", "e": "enum", "s": "set",
             "bit": "bit", "y": "year", "j": "json", "dec": "decimal", "t": "time", "dt": "datetime"}
    data = {"id": "-1", "u": "18446744073709551615", "f": "3.14", "d": "1e20", "b": "\x00\xff", "e": "2", "s": "5",
            "bit": "65", "y": "2020", "j": '{"a": [1, 2]}', "dec": "-12.50", "t": "-838:59:59", "dt": "2020-02-20 02:20:20.123"}
    (event,) = decoder().decode(None, row_message(types, data))
    assert event.after == {"id": -1, "u": 2**64 - 1, "f": 3.140000104904175, "d": 1e20, "b": b"\x00\xff", "e": 2, "s": 5,
                           "bit": 65, "y": 2020, "j": '{"a": [1, 2]}', "dec": "-12.50", "t": "-838:59:59",
                           "dt": "2020-02-20 02:20:20.123"}


def test_the_table_is_rebuilt_from_mysql_type_and_pk_names():
    # ticdc canal_json_decoder.go:635-699 (newTiColumns)
    types = {"id": "int(10) unsigned zerofill", "n": "decimal(10,2)", "c": "varbinary(16)", "e": "enum('a','it''s')",
             "t": "datetime(3)", "x": "text"}
    message = row_message(types, {"id": "1"}, pkNames=["id"])
    (event,) = decoder().decode(None, message)
    info = event.table_info
    assert [c.name for c in info.columns] == list(types) and info.pk == ("id",)
    key = info.column("id")
    assert (key.type_name, key.flen, key.unsigned, key.zerofill, key.primary_key, key.nullable) == ("int", 10, True, True, True, False)
    assert (info.column("n").flen, info.column("n").decimal) == (10, 2)
    assert info.column("c").binary and info.column("c").type_name == "varbinary"
    assert info.column("e").elems == ("a", "it's")
    assert info.column("t").decimal == 3 and info.column("x").type_name == "text" and not info.column("x").binary


def test_claim_check_location_is_followed(tmp_path):
    # ticdc canal_json_decoder.go:179-209: the full message is read from the claim-check storage.
    options = EncoderOptions("canal-json", True, 1000, large_message_handle_option="claim-check",
                             claim_check_storage_uri=f"file://{tmp_path}", large_message_handle_compression="snappy")
    columns = {"id": "bigint", "body": "text"}
    body = random.Random(1).randbytes(1000).hex()  # does not compress below the limit
    event = RowEvent("shop", "docs", 99, "insert", ["id"], columns, None, {"id": 7, "body": body})
    key, value = CanalJsonEncoder(options).encode_row(event)
    assert b"claimCheckLocation" in decompress("snappy", value)
    (decoded,) = build_decoder(options).decode(key, value)
    assert decoded.after == {"id": 7, "body": body} and decoded.commit_ts == 99
    # handle-key-only: decoded to the handle-key columns (TiCDC would query the upstream for the rest).
    options = EncoderOptions("canal-json", True, 300, large_message_handle_option="handle-key-only")
    event.after = {"id": 7, "body": "x" * 1000}
    (reduced,) = build_decoder(options).decode(*CanalJsonEncoder(options).encode_row(event))
    assert reduced.after == {"id": 7} and reduced.commit_ts == 99
