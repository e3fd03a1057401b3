"""simple-protocol messages as TiCDC writes them, one case per TiCDC test or source line.

TiCDC's simple tests mostly round-trip events through its own decoder; where
they pin a value (a table schema, a DDL type, a message type), the same value
is pinned here, with the TiCDC file and line. The message layout itself
(field order, which fields are left out when empty) is that of the structs in
ticdc pkg/sink/codec/simple/message.go, written by Go's encoding/json.

Where cdcsink's input cannot say what TiDB knows (index names, indexes of
several columns, default values, table ids), the case says so; README lists
these among the known differences.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from cdcsink.codec.common.large import decompress
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import table_schema
from cdcsink.codec.simple.decoder import SimpleDecoder
from cdcsink.codec.simple.encoder import SimpleEncoder
from cdcsink.codec.simple.message import table_from_doc, table_schema_doc
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent

TS = 449_571_200_401_145_857
NOW = 1_700_000_000_123


def encoder(**options: Any) -> SimpleEncoder:
    return SimpleEncoder(EncoderOptions("simple", clock_ms=lambda: NOW, **options))


def event(columns: dict[str, Any], pk: list[str], after: dict[str, Any] | None = None, op: str = "insert",
          before: dict[str, Any] | None = None, table: str = "t") -> RowEvent:
    return RowEvent("test", table, TS, op, pk, columns, before, after)


def data_type(mysql_type: str, charset: str, collate: str, length: int, **more: Any) -> dict[str, Any]:
    return {"mysqlType": mysql_type, "charset": charset, "collate": collate, "length": length, **more}


def column(name: str, dt: dict[str, Any], nullable: bool) -> dict[str, Any]:
    return {"name": name, "dataType": dt, "nullable": nullable, "default": None}


BIN = ("binary", "binary")
UTF8 = ("utf8mb4", "utf8mb4_bin")


# --- table schema (ticdc pkg/sink/codec/simple/message_test.go TestNewTableSchema) -----------------

def test_table_schema_of_every_data_type():
    # ticdc pkg/sink/codec/simple/message_test.go:198 (case 3: "all data types in TiDB"), expected columns at 247-640.
    # cdcsink writes every default as null (message_test.go:318 has "100" for `i int default 100`, :597 "b" for
    # the enum): the input does not carry defaults.
    columns = {
        "t": "tinyint", "tu1": "tinyint unsigned", "s": "smallint", "su1": "smallint unsigned", "m": "mediumint",
        "mu1": "mediumint unsigned", "i": "int", "iu1": "int unsigned", "bi": "bigint", "biu1": "bigint unsigned",
        "floatT": "float", "doubleT": "double", "decimalT": "decimal", "floatTu": "float unsigned",
        "doubleTu": "double unsigned", "decimalTu": "decimal unsigned", "varcharT": "varchar(255)",
        "charT": "char(255)", "binaryT": "binary(255)", "varbinaryT": "varbinary(255)", "tinytextT": "tinytext",
        "textT": "text", "mediumtextT": "mediumtext", "longtextT": "longtext", "tinyblobT": "tinyblob",
        "blobT": "blob", "mediumblobT": "mediumblob", "longblobT": "longblob", "dateT": "date",
        "datetimeT": "datetime", "timestampT": "timestamp", "timeT": "time", "yearT": "year",
        "enumT": "enum('a', 'b', 'c')", "setT": "set('a', 'b', 'c')", "bitT": "bit(10)", "jsonT": "json",
        "tgen": {"type": "tinyint", "generated": True},
    }
    doc = table_schema_doc(table_schema("test", "t3", columns, ["t"]))
    assert doc["columns"] == [
        column("t", data_type("tinyint", *BIN, 4), False),  # :247
        column("tu1", data_type("tinyint", *BIN, 3, unsigned=True), True),  # :257
        column("s", data_type("smallint", *BIN, 6), True),  # :268
        column("su1", data_type("smallint", *BIN, 5, unsigned=True), True),  # :278
        column("m", data_type("mediumint", *BIN, 9), True),  # :289
        column("mu1", data_type("mediumint", *BIN, 8, unsigned=True), True),  # :299
        column("i", data_type("int", *BIN, 11), True),  # :310
        column("iu1", data_type("int", *BIN, 10, unsigned=True), True),  # :321
        column("bi", data_type("bigint", *BIN, 20), True),  # :332
        column("biu1", data_type("bigint", *BIN, 20, unsigned=True), True),  # :342
        column("floatT", data_type("float", *BIN, 12), True),  # :353
        column("doubleT", data_type("double", *BIN, 22), True),  # :363
        column("decimalT", data_type("decimal", *BIN, 10), True),  # :373
        column("floatTu", data_type("float", *BIN, 12, unsigned=True), True),  # :383
        column("doubleTu", data_type("double", *BIN, 22, unsigned=True), True),  # :394
        column("decimalTu", data_type("decimal", *BIN, 10, unsigned=True), True),  # :405
        column("varcharT", data_type("varchar", *UTF8, 255), True),  # :416
        column("charT", data_type("char", *UTF8, 255), True),  # :426
        column("binaryT", data_type("binary", *BIN, 255), True),  # :436
        column("varbinaryT", data_type("varbinary", *BIN, 255), True),  # :446
        column("tinytextT", data_type("tinytext", *UTF8, 255), True),  # :456
        column("textT", data_type("text", *UTF8, 65535), True),  # :466
        column("mediumtextT", data_type("mediumtext", *UTF8, 16777215), True),  # :476
        column("longtextT", data_type("longtext", *UTF8, 4294967295), True),  # :486
        column("tinyblobT", data_type("tinyblob", *BIN, 255), True),  # :496
        column("blobT", data_type("blob", *BIN, 65535), True),  # :506
        column("mediumblobT", data_type("mediumblob", *BIN, 16777215), True),  # :516
        column("longblobT", data_type("longblob", *BIN, 4294967295), True),  # :526
        column("dateT", data_type("date", *BIN, 10), True),  # :536
        column("datetimeT", data_type("datetime", *BIN, 19), True),  # :546
        column("timestampT", data_type("timestamp", *BIN, 19), True),  # :556
        column("timeT", data_type("time", *BIN, 10), True),  # :566
        column("yearT", data_type("year", *BIN, 4, unsigned=True, zerofill=True), True),  # :576
        column("enumT", data_type("enum", *UTF8, 1, elements=["a", "b", "c"]), True),  # :588
        column("setT", data_type("set", *UTF8, 5, elements=["a", "b", "c"]), True),  # :600
        column("bitT", data_type("bit", *BIN, 10, unsigned=True), True),  # :611
        column("jsonT", data_type("json", *BIN, 4294967295), True),  # :622
        column("tgen", data_type("tinyint", *BIN, 4), True),  # :632
    ]
    # message_test.go:643: the primary key is the one index.
    assert doc["indexes"] == [{"name": "primary", "unique": True, "primary": True, "nullable": False, "columns": ["t"]}]
    assert (doc["schema"], doc["table"], doc["tableID"]) == ("test", "t3", 0)


def test_table_schema_of_a_table_with_a_unique_and_a_secondary_index():
    # ticdc pkg/sink/codec/simple/message_test.go:27 (case 1): the columns are TiCDC's (:45-84). Its indexes
    # (:86-108) are idx_name (unique, name), idx_age_email (age, email) and primary (id); cdcsink's input names
    # no index and has no index of several columns, so each unique or indexed column is an index of its own,
    # named after the column.
    columns = {
        "id": "int", "name": {"type": "varchar(64)", "nullable": False, "unique": True},
        "age": {"type": "int", "indexed": True}, "email": {"type": "varchar(255) not null", "indexed": True},
    }
    doc = table_schema_doc(table_schema("test", "t1", columns, ["id"]))
    assert doc["columns"] == [
        column("id", data_type("int", *BIN, 11), False),
        column("name", data_type("varchar", *UTF8, 64), False),
        column("age", data_type("int", *BIN, 11), True),
        column("email", data_type("varchar", *UTF8, 255), False),
    ]
    assert doc["indexes"] == [
        {"name": "name", "unique": True, "primary": False, "nullable": False, "columns": ["name"]},
        {"name": "age", "unique": False, "primary": False, "nullable": True, "columns": ["age"]},
        {"name": "email", "unique": False, "primary": False, "nullable": False, "columns": ["email"]},
        {"name": "primary", "unique": True, "primary": True, "nullable": False, "columns": ["id"]},
    ]
    # And the decoder rebuilds the key flags TiCDC's newTiColumnInfo (decoder.go:405) sets from them.
    table, _ = table_from_doc(doc)
    flags = {c.name: (c.primary_key, c.unique_key, c.multiple_key) for c in table.columns}
    assert flags == {"id": (True, False, False), "name": (False, True, False), "age": (False, False, True),
                     "email": (False, False, True)}


def test_a_handle_key_that_is_a_unique_key_is_a_unique_index_named_after_its_first_column():
    # ticdc pkg/sink/codec/simple/message.go:193 newTableSchema writes TiDB's indexes; a NOT NULL unique key
    # standing in for a primary key is one of them (not "primary").
    doc = table_schema_doc(table_schema("test", "t", {"a": {"type": "int", "unique": True}, "b": "int"}, ["a"]))
    assert doc["indexes"] == [{"name": "a", "unique": True, "primary": False, "nullable": False, "columns": ["a"]}]


def test_datetime_lengths_count_their_fractional_seconds_and_decimals_their_scale():
    # ticdc pkg/sink/codec/simple/message.go:126 newColumnSchema: Length is the column's flen (TiDB widens
    # datetime(6) to 26), Decimal its decimal, except for float and double (:139).
    doc = table_schema_doc(table_schema("test", "t", {
        "id": "int", "d6": "datetime(6)", "t3": "time(3)", "ts": "timestamp(2)", "dec": "decimal(12,4)",
        "f": "float(7,3)", "e": "enum('é','ab')",
    }, ["id"]))
    types = {c["name"]: c["dataType"] for c in doc["columns"]}
    assert types["d6"] == data_type("datetime", *BIN, 26, decimal=6)
    assert types["t3"] == data_type("time", *BIN, 14, decimal=3)
    assert types["ts"] == data_type("timestamp", *BIN, 22, decimal=2)
    assert types["dec"] == data_type("decimal", *BIN, 12, decimal=4)
    assert types["f"] == data_type("float", *BIN, 7)
    assert types["e"] == data_type("enum", *UTF8, 2, elements=["é", "ab"])  # the longest member's bytes


# --- message layout (ticdc message.go:243 type message) -------------------------------------------------

def test_row_messages_field_by_field():
    # ticdc pkg/sink/codec/simple/message.go:320 newDMLMessage, :432 encodeValue; fields in the struct's order
    # (:243), empty ones left out (tableID 0, claimCheckLocation, handleKeyOnly), data/old keys sorted.
    columns = {"id": "int", "b": "varbinary(8)", "ts": "timestamp", "f": "float", "e": "enum('x','y')",
               "s": "set('x','y')", "bit": "bit(8)", "note": "varchar(8)"}
    after = {"id": 1, "b": b"\x00\xff", "ts": "2024-01-02 03:04:05", "f": 2.0, "e": 2, "s": 3, "bit": 65,
             "note": "<&>"}
    enc = encoder()
    insert = event(columns, ["id"], after)
    value = enc.encode_row(insert)[1]
    version = table_schema_doc(insert.table_info)["version"]
    assert value == (
        b'{"version":1,"database":"test","table":"t","type":"INSERT","commitTs":%d,"buildTs":%d,"schemaVersion":%d,'
        b'"data":{"b":"AP8=","bit":"65","e":"2","f":"2","id":"1","note":"\\u003c\\u0026\\u003e","s":"3",'
        b'"ts":{"location":"UTC","value":"2024-01-02 03:04:05"}}}' % (TS, NOW, version)
    )
    update = enc.encode_row(event(columns, ["id"], after, "update", dict(after, note=None)))[1]
    assert b'"type":"UPDATE"' in update and update.index(b'"data":') < update.index(b'"old":')
    delete = orjson.loads(enc.encode_row(event(columns, ["id"], None, "delete", after))[1])
    assert delete["type"] == "DELETE" and "data" not in delete and delete["old"]["id"] == "1"


def test_integer_extremes_are_written_in_decimal_and_read_back():
    # ticdc pkg/sink/codec/simple/encoder_test.go:1044 TestEncodeIntegerTypes (min values :1062, max :1072).
    columns = {"id": "int", "a": "tinyint", "b": "tinyint unsigned", "c": "smallint", "d": "smallint unsigned",
               "e": "mediumint", "f": "mediumint unsigned", "g": "int", "h": "int unsigned", "i": "bigint",
               "j": "bigint unsigned"}
    minimum = dict(id=1, a=-128, b=0, c=-32768, d=0, e=-8388608, f=0, g=-2147483648, h=0, i=-9223372036854775808, j=0)
    maximum = dict(id=2, a=127, b=255, c=32767, d=65535, e=8388607, f=16777215, g=2147483647, h=4294967295,
                   i=9223372036854775807, j=18446744073709551615)
    enc, dec = encoder(), SimpleDecoder()
    for after in (minimum, maximum):
        row = event(columns, ["id"], after)
        dec.decode(*enc.encode_bootstrap(row.table_info))
        key, value = enc.encode_row(row)
        assert orjson.loads(value)["data"] == {name: str(number) for name, number in after.items()}
        (again,) = dec.decode(key, value)
        assert again.after == after


def test_enum_set_bit_and_json_values():
    # ticdc pkg/sink/codec/simple/encoder_test.go:1146 TestEncoderOtherTypes: enum 'a', set 'a,b', bit b'1000001',
    # json; written as the member index, the bitmask (message.go:452-455), the bit's number (:441) and the JSON text.
    columns = {"a": "int", "b": "enum('a', 'b', 'c')", "c": "set('a', 'b', 'c')", "d": "bit(64)", "e": "json"}
    after = {"a": 1, "b": 1, "c": 3, "d": 65, "e": '{"key1": "value1", "key2": "value2"}'}
    enc, dec = encoder(), SimpleDecoder()
    row = event(columns, ["a"], after)
    dec.decode(*enc.bootstrap(row))
    key, value = enc.encode_row(row)
    assert orjson.loads(value)["data"] == {"a": "1", "b": "1", "c": "3", "d": "65", "e": after["e"]}
    (again,) = dec.decode(key, value)
    assert again.after == after


def test_watermark_message():
    # ticdc pkg/sink/codec/simple/encoder_test.go:51 TestEncodeCheckpoint: the checkpoint ts comes back, buildTs is
    # set, with each compression; message.go:275 newResolvedMessage has no database, table or schema.
    checkpoint = 446266400629063682
    for compression in ("none", "snappy", "lz4"):
        enc = encoder(large_message_handle_compression=compression)
        message = enc.encode_watermark(checkpoint)
        assert message is not None
        (resolved,) = SimpleDecoder(EncoderOptions("simple", large_message_handle_compression=compression)).decode(*message)
        assert isinstance(resolved, ResolvedEvent) and resolved.commit_ts == checkpoint
    assert encoder().encode_watermark(checkpoint) == (
        None, b'{"version":1,"type":"WATERMARK","commitTs":446266400629063682,"buildTs":%d}' % NOW)


def test_bootstrap_message():
    # ticdc pkg/sink/codec/simple/encoder_test.go:1369 TestEncodeBootstrapEvent: the bootstrap has no query (so
    # it is no DDL for cdcsink), carries every column, and the row after it decodes with it. Its index
    # idx_name_email (name, email) has two columns: cdcsink declares both columns indexed instead.
    columns = {"id": "int", "name": "varchar(255) not null", "age": "int",
               "email": {"type": "varchar(255) not null", "indexed": True}}
    row = event(columns, ["id", "name"], {"id": 1, "name": "jack", "age": 23, "email": "jack@abc.com"})
    for compression in ("none", "snappy", "lz4"):
        enc = encoder(large_message_handle_compression=compression)
        dec = SimpleDecoder(EncoderOptions("simple", large_message_handle_compression=compression))
        bootstrap = enc.bootstrap(row)
        assert bootstrap is not None
        assert dec.decode(*bootstrap) == []
        (again,) = dec.decode(*enc.encode_row(row))
        assert (again.schema, again.table, again.commit_ts, again.after, again.before) == (
            "test", "t", TS, row.after, None)
        assert len(again.table_info.columns) == 4 and again.table_info.pk == ("id", "name")
    # message.go:284 newBootstrapMessage: no database, table, sql or schemaVersion; commitTs 0.
    message = orjson.loads(encoder().bootstrap(row)[1])
    assert list(message) == ["version", "type", "commitTs", "buildTs", "tableSchema"]
    assert (message["type"], message["commitTs"], message["buildTs"]) == ("BOOTSTRAP", 0, NOW)


@pytest.mark.parametrize(("line", "query", "expected"), [
    (447, "DROP DATABASE IF EXISTS test", "QUERY"),
    (459, "CREATE DATABASE IF NOT EXISTS test", "QUERY"),
    (471, "CREATE TABLE `TBL1` (`id` INT PRIMARY KEY AUTO_INCREMENT,`value` VARCHAR(255),`payload` VARCHAR(2000),`a` INT)", "CREATE"),
    (483, "ALTER TABLE `TBL1` ADD COLUMN `nn` INT", "ALTER"),
    (495, "ALTER TABLE `TBL1` DROP COLUMN `nn`", "ALTER"),
    (507, "ALTER TABLE `TBL1` CHANGE COLUMN `value` `value2` VARCHAR(512)", "ALTER"),
    (519, "ALTER TABLE `TBL1` MODIFY COLUMN `value2` VARCHAR(512) FIRST", "ALTER"),
    (531, "ALTER TABLE `TBL1` ALTER COLUMN `payload` SET DEFAULT _UTF8MB4'a'", "ALTER"),
    (548, "ALTER TABLE `TBL1` ALTER COLUMN `payload` DROP DEFAULT", "ALTER"),
    (565, "ALTER TABLE `TBL1` AUTO_INCREMENT = 5", "ALTER"),
    (578, "ALTER TABLE `TBL1` MODIFY COLUMN `a` INT NULL", "ALTER"),
    (595, "ALTER TABLE `TBL1` MODIFY COLUMN `a` INT NOT NULL", "ALTER"),
    (612, "CREATE INDEX `idx_a` ON `TBL1` (`a`)", "CINDEX"),
    (624, "ALTER TABLE `TBL1` RENAME INDEX `idx_a` TO `new_idx_a`", "ALTER"),
    (648, "ALTER TABLE TBL1 ALTER INDEX `new_idx_a` INVISIBLE", "ALTER"),
    (660, "DROP INDEX `new_idx_a` ON `TBL1`", "DINDEX"),
    (672, "TRUNCATE TABLE TBL1", "TRUNCATE"),
    (684, "ALTER TABLE TBL1 ADD COLUMN `new_col` INT, ADD INDEX `idx_new_col` (`a`)", "ALTER"),
    (696, "ALTER TABLE TBL1 DROP COLUMN `new_col`, DROP INDEX `idx_new_col`", "ALTER"),
    (708, "RENAME TABLE TBL1 TO TBL2", "RENAME"),
    (720, "ALTER TABLE TBL2 CHANGE COLUMN `id` `id2` INT", "ALTER"),
    (732, "ALTER TABLE TBL2 PARTITION BY RANGE (id2) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN (20))", "ALTER"),
    (744, "ALTER TABLE TBL2 ADD PARTITION (PARTITION p2 VALUES LESS THAN (30))", "ALTER"),
    (756, "ALTER TABLE TBL2 DROP PARTITION p2", "ALTER"),
    (768, "ALTER TABLE TBL2 TRUNCATE PARTITION p1", "ALTER"),
    (780, "ALTER TABLE TBL2 REORGANIZE PARTITION p1 INTO (PARTITION p3 VALUES LESS THAN (40))", "ALTER"),
    (791, "ALTER TABLE TBL2 EXCHANGE PARTITION p0 WITH TABLE TBL1", "ALTER"),
    (802, "ALTER TABLE TBL2 REMOVE PARTITIONING", "ALTER"),
    (814, "ALTER TABLE TBL2 CHARACTER SET = utf8mb4 COLLATE = utf8mb4_bin", "ALTER"),
    (826, "DROP TABLE TBL2", "ERASE"),
])
def test_ddl_message_types(line, query, expected):
    # ticdc pkg/sink/codec/simple/encoder_test.go:350 TestEncodeDDLSequence, the assertion at `line`.
    ddl = DDLEvent("test", "TBL1", TS, query)
    key, value = encoder().encode_ddl(ddl)
    message = orjson.loads(value)
    assert message["type"] == expected
    # message.go:295 newDDLMessage: sql, commitTs, buildTs, the table schema (cdcsink's names the table only:
    # the input does not say what the table looks like after the DDL).
    assert list(message) == ["version", "type", "sql", "commitTs", "buildTs", "tableSchema"]
    assert message["tableSchema"] == {"schema": "test", "table": "TBL1", "tableID": 0, "version": TS, "columns": [],
                                      "indexes": []}
    (again,) = SimpleDecoder().decode(key, value)
    assert (again.schema, again.table, again.commit_ts, again.query) == ("test", "TBL1", TS, query)


# --- large messages -------------------------------------------------------------------------------------

LARGE = {"id": "int", "payload": "longtext"}


def large_row() -> RowEvent:
    # Text no compression shrinks much: hex digests of a counter.
    payload = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(20))
    return event(LARGE, ["id"], {"id": 7, "payload": payload})


@pytest.mark.parametrize("handling", ["none", "handle-key-only", "claim-check"])
def test_a_row_too_large_even_with_only_its_handle_key_fails(handling, tmp_path):
    # ticdc pkg/sink/codec/simple/encoder_test.go:1569 TestDMLMessageTooLarge: max-message-bytes 50 refuses the row
    # whatever the handling.
    enc = encoder(max_message_bytes=50, large_message_handle_option=handling, claim_check_storage_uri=f"file://{tmp_path}")
    with pytest.raises(MessageTooLargeError):
        enc.encode_row(large_row())


def test_a_ddl_message_too_large_fails():
    # ticdc pkg/sink/codec/simple/encoder_test.go:1551 TestDDLMessageTooLarge: max-message-bytes 100.
    with pytest.raises(MessageTooLargeError):
        encoder(max_message_bytes=100).encode_ddl(DDLEvent("test", "t", TS, "CREATE TABLE t (" + "a INT, " * 20 + "id INT)"))


def test_handle_key_only():
    # ticdc pkg/sink/codec/simple/encoder_test.go:1688 TestLargeMessageHandleKeyOnly: max-message-bytes 500, the
    # message has handleKeyOnly and only the handle-key columns (message.go:357 formatColumns, onlyHandleKey).
    enc = encoder(max_message_bytes=500, large_message_handle_option="handle-key-only")
    row = large_row()
    message = orjson.loads(enc.encode_row(row)[1])
    assert message["handleKeyOnly"] is True and message["data"] == {"id": "7"}
    assert "claimCheckLocation" not in message


def test_claim_check(tmp_path):
    # ticdc pkg/sink/codec/simple/encoder_test.go:1609 TestLargerMessageHandleClaimCheck: the message names its
    # claim-check location and decodes to the whole row read from there, with each compression.
    for compression in ("none", "snappy", "lz4"):
        options = {"max_message_bytes": 500, "large_message_handle_option": "claim-check",
                   "claim_check_storage_uri": f"file://{tmp_path}", "large_message_handle_compression": compression}
        enc = encoder(**options)
        row = large_row()
        dec = SimpleDecoder(EncoderOptions("simple", **options))
        dec.decode(*encoder(large_message_handle_compression=compression).bootstrap(row))  # (TiCDC's test also lowers the limit only after its DDL)
        key, value = enc.encode_row(row)
        message = orjson.loads(decompress(compression, value))
        assert message["claimCheckLocation"].startswith(f"file://{tmp_path}/") and message["handleKeyOnly"] is True
        (again,) = dec.decode(key, value)
        assert again.after == row.after


def test_the_version_is_the_table_schemas_hash():
    # (TiDB's version is its schema update ts; cdcsink's input has none: README, known differences.)
    declared = {"id": "int", "v": "varchar(8)"}
    first = table_schema_doc(table_schema("test", "t", declared, ["id"]))["version"]
    assert first == table_schema_doc(table_schema("test", "t", dict(declared), ["id"]))["version"]
    assert first != table_schema_doc(table_schema("test", "t", declared | {"w": "int"}, ["id"]))["version"]
    assert first != table_schema_doc(table_schema("test", "u", declared, ["id"]))["version"]


def test_columns_whose_sizes_the_input_message_lacked_are_written_with_the_widest():
    # A table rebuilt from open-protocol (no lengths, scales or members): no consumer may round its values.
    from cdcsink.codec.open_protocol.decoder import OpenProtocolDecoder
    from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder

    columns = {"id": "int", "d": "decimal(12,3)", "t": "datetime(3)", "b": "bit(10)", "e": "enum('x','y')"}
    row = event(columns, ["id"], {"id": 1, "d": "1.125", "t": "2024-01-01 00:00:00.500", "b": 1023, "e": 2})
    (message,) = OpenProtocolEncoder(EncoderOptions("open-protocol")).encode_rows([row])
    (rebuilt,) = OpenProtocolDecoder().decode(*message)
    types = {c["name"]: c["dataType"] for c in table_schema_doc(rebuilt.table_info)["columns"]}
    assert types["d"] == data_type("decimal", *BIN, 65, decimal=30)
    assert types["t"] == data_type("datetime", *BIN, 26, decimal=6)
    assert types["b"] == data_type("bit", *BIN, 64, unsigned=True)
    assert "elements" not in types["e"]
    enc, dec = encoder(), SimpleDecoder()
    dec.decode(*enc.bootstrap(rebuilt))
    (again,) = dec.decode(*enc.encode_row(rebuilt))
    assert again.after == {"id": 1, "d": "1.125000000000000000000000000000", "t": "2024-01-01 00:00:00.500", "b": 1023,
                           "e": 2}
