"""Maxwell messages as TiCDC writes them (tiflow pkg/sink/codec/maxwell; ticdc
has no maxwell). TiCDC's own tests (maxwell_encoder_test.go,
maxwell_message_test.go) check little beyond message counts; the byte-level
cases below follow the code line by line (each names the line), with Go's
``json.Marshal`` rules: struct fields in declaration order, map keys sorted,
``omitempty`` fields left out when empty, ``<>&`` escaped, ``[]byte`` as
base64."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest

from cdcsink.codec.maxwell.decoder import MaxwellDecoder
from cdcsink.codec.maxwell.encoder import BATCH_ROWS, MaxwellEncoder, maxwell_ddl_type
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DDLEvent, RowEvent

TS = 449_571_200_401_145_857  # a TSO: physical 1714999970000 ms (2024-05-06)
SECONDS = (TS >> 18) // 1000


def encoder(**options: Any) -> MaxwellEncoder:
    return MaxwellEncoder(EncoderOptions("maxwell", **options))


def row(op: str, before: Any, after: Any, columns: Any = None, pk: Any = None) -> RowEvent:
    return RowEvent("test", "t", TS, op, pk if pk is not None else ["col1"], columns or {"col1": "int"}, before, after)


def test_a_row_is_one_message_keyed_by_the_batch_version():
    # tiflow maxwell_encoder_test.go:26 TestMaxwellBatchCodec: one row -> one message with one row;
    # maxwell_encoder.go:104-110: the key is codec.BatchVersion1 (8 bytes, big-endian 1).
    ((key, value),) = encoder().encode_rows([row("insert", None, {"col1": 10})])
    assert key == struct.pack(">Q", 1)
    # maxwell_message.go:28-39 field order, :68 ts = physical time in seconds, :115 type insert
    assert value == b'{"database":"test","table":"t","type":"insert","ts":%d,"data":{"col1":10}}' % SECONDS
    assert encoder().encode_rows([]) == []  # maxwell_encoder_test.go:45: no rows, no message


def test_rows_handed_over_together_share_one_message():
    # tiflow maxwell_encoder_test.go:60 TestMaxwellAppendRowChangedEventWithCallback: 5 rows -> 1 message;
    # maxwell_encoder.go:57 writes each row's JSON after the previous one.
    events = [row("insert", None, {"col1": i}) for i in range(5)]
    ((key, value),) = encoder().encode_rows(events)
    assert value.count(b'{"database"') == 5
    decoded = MaxwellDecoder().decode(key, value)
    assert [event.after for event in decoded] == [{"col1": i} for i in range(5)]


def test_batches_are_cut_at_the_size_limit_and_the_batch_size():
    events = [row("insert", None, {"col1": i}) for i in range(10)]
    one = len(encoder().encode_row(events[0])[1])
    messages = encoder(max_message_bytes=8 + 36 + 3 * one + 2).encode_rows(events)
    assert [m[1].count(b'{"database"') for m in messages] == [3, 3, 3, 1]
    assert all(len(k) + len(v) + 36 <= 8 + 36 + 3 * one + 2 for k, v in messages)
    many = [row("insert", None, {"col1": i}) for i in range(BATCH_ROWS + 1)]
    assert [m[1].count(b'{"database"') for m in encoder().encode_rows(many)] == [BATCH_ROWS, 1]


def test_a_single_row_over_the_limit_stops_with_the_event_named():
    event = row("insert", None, {"col1": 1, "s": "x" * 3000}, {"col1": "int", "s": "text"})
    with pytest.raises(MessageTooLargeError, match=r"test\.t commit_ts=\d+ pk=\{'col1': 1\}"):
        encoder(max_message_bytes=2000).encode_row(event)


def test_update_old_holds_only_the_changed_columns():
    # tiflow maxwell_message.go:116-150: old gets a column's previous value when it differs from the new one,
    # null when it was NULL and is not any more; columns sorted by name (json.Marshal of a map).
    columns = {"col1": "int", "b": "varchar(8)", "a": "int", "n": "int"}
    before = {"col1": 1, "b": "x", "a": 5, "n": None}
    after = {"col1": 1, "b": "y", "a": 5, "n": 3}
    (_, value), = encoder().encode_rows([row("update", before, after, columns)])
    assert orjson.loads(value) == {"database": "test", "table": "t", "type": "update", "ts": SECONDS,
                                   "data": {"a": 5, "b": "y", "col1": 1, "n": 3}, "old": {"b": "x", "n": None}}
    assert value.index(b'"a"') < value.index(b'"b"') < value.index(b'"col1"')


def test_an_update_that_changes_nothing_has_no_old():
    (_, value), = encoder().encode_rows([row("update", {"col1": 1}, {"col1": 1})])
    assert b'"old"' not in value  # maxwell_message.go:38 omitempty


def test_delete_writes_the_row_in_old():
    # tiflow maxwell_message.go:70-90: a delete's columns go to Old; Data stays empty and is left out.
    columns = {"col1": "int", "v": "varchar(8)"}
    (_, value), = encoder().encode_rows([row("delete", {"col1": 1, "v": "a"}, None, columns)])
    assert value == b'{"database":"test","table":"t","type":"delete","ts":%d,"old":{"col1":1,"v":"a"}}' % SECONDS
    # maxwell_message.go:74: delete-only-output-handle-key-columns keeps the handle key
    (_, value), = encoder(delete_only_output_handle_key_columns=True).encode_rows([row("delete", {"col1": 1, "v": "a"}, None, columns)])
    assert orjson.loads(value)["old"] == {"col1": 1}


def test_values_as_json_marshal_writes_them():
    # tiflow maxwell_message_test.go:43 TestEncodeBinaryToMaxwell: a varbinary value encodes;
    # maxwell_message.go:80-84 writes binary strings as []byte (base64), text as string, others as model values:
    # ints and uint64, float32/float64 in Go's shortest form, decimal/date/time/json as text, enum index, set bitmask.
    columns = {
        "col1": "varbinary(255)", "t": "varchar(8)", "u": "bigint unsigned", "f": "float", "d": "double",
        "e": "enum('a','b')", "s": "set('a','b')", "bit": "bit(8)", "dec": "decimal(5,2)", "j": "json",
        "tiny": "double",
    }
    after = {"col1": "测试varbinary".encode(), "t": "<&>", "u": 2**64 - 1, "f": 0.1, "d": 1e21, "e": 2, "s": 3,
             "bit": 255, "dec": "1.50", "j": '{"a": 1}', "tiny": 1e-7}
    (_, value), = encoder().encode_rows([row("insert", None, after, columns)])
    assert value == (
        b'{"database":"test","table":"t","type":"insert","ts":%d,"data":{"bit":255,"col1":"5rWL6K+VdmFyYmluYXJ5",'
        b'"d":1e+21,"dec":"1.50","e":2,"f":0.1,"j":"{\\"a\\": 1}","s":3,"t":"\\u003c\\u0026\\u003e","tiny":1e-7,'
        b'"u":18446744073709551615}}' % SECONDS
    )


def test_no_watermarks():
    # tiflow maxwell_encoder.go:39-44: EncodeCheckpointEvent returns nil
    assert encoder().encode_watermark(5) is None


def test_ddl_message():
    # tiflow maxwell_message.go:194-241 ddlEventToMaxwellMsg, internal/message_key.go MessageKey (omitempty scm/tbl);
    # maxwell_encoder_test.go:49: a CREATE TABLE DDL encodes to a message.
    key, value = encoder().encode_ddl(DDLEvent("test", "t", TS, "create table test.t(col1 int primary key)"))  # type: ignore[misc]
    assert key == b'{"ts":%d,"scm":"test","tbl":"t","t":2}' % TS
    assert value == (
        b'{"type":"table-create","database":"test","table":"t",'
        b'"old":{"database":"","table":"","columns":null,"primary-key":null},'
        b'"def":{"database":"test","table":"t","columns":[{"type":"int","name":"col1"}],"primary-key":null},'
        b'"ts":%d,"sql":"create table test.t(col1 int primary key)"}' % TS
    )


def test_alter_ddl_has_the_table_before_it_in_old():
    codec = encoder()
    codec.encode_row(row("insert", None, {"col1": 1, "v": "x"}, {"col1": "int", "v": "varchar(8)"}))
    _, value = codec.encode_ddl(DDLEvent("test", "t", TS, "ALTER TABLE t ADD COLUMN c INT"))  # type: ignore[misc]
    doc = orjson.loads(value)
    assert doc["type"] == "table-alter"
    assert doc["old"] == {"database": "test", "table": "t", "primary-key": None,
                          "columns": [{"type": "int", "name": "col1"}, {"type": "string", "name": "v"}]}
    assert doc["def"] == {"database": "test", "table": "t", "columns": None, "primary-key": None}  # not known


def test_schema_ddl_key_leaves_the_table_out():
    key, value = encoder().encode_ddl(DDLEvent("test", None, 7, "CREATE DATABASE test"))  # type: ignore[misc]
    assert key == b'{"ts":7,"scm":"test","t":2}'
    assert orjson.loads(value)["type"] == "database-create"


@pytest.mark.parametrize("action, name", [
    (3, "table-create"), (4, "table-drop"), (5, "table-alter"), (11, "table-alter"), (14, "table-alter"),
    (20, "table-alter"), (22, "table-alter"), (33, "table-alter"), (42, "table-alter"), (1, "database-create"),
    (2, "database-drop"), (26, "database-alter"), (21, "create view"), (24, "drop view"), (47, "rename tables"),
    (61, "alter table multi-schema change"), (0, "none"),
])
def test_ddl_types(action, name):
    # tiflow maxwell_message.go:244-265 ddlToMaxwellType; the default is TiDB's ActionType.String()
    # (pingcap/tidb pkg/meta/model/job.go ActionMap, "none" for ActionNone)
    assert maxwell_ddl_type(action) == name


def test_an_update_of_a_binary_column_compares_the_bytes():
    # tiflow maxwell_message.go:128 compares two []byte values held in interfaces, which panics in Go;
    # cdcsink compares the bytes (README: known differences).
    columns = {"col1": "int", "b": "varbinary(8)", "same": "blob"}
    before = {"col1": 1, "b": b"\x00\x01", "same": b"x"}
    after = {"col1": 1, "b": b"\x00\x02", "same": b"x"}
    (_, value), = encoder().encode_rows([row("update", before, after, columns)])
    assert orjson.loads(value)["old"] == {"b": "AAE="}
