"""open-protocol framing, packing and the payload options (golden bytes; per-type
values and flags are in test_golden.py, the round trip in test_roundtrip.py)."""

import re
import struct

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder
from cdcsink.codec.open_protocol.message import RECORD_OVERHEAD, decode_open_protocol
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DDLEvent, RowEvent

COLUMNS = {"id": "bigint", "amount": "decimal(10,2)", "note": "varchar(64)", "body": "blob", "n": "int unsigned"}


def enc(limit: int = 1 << 20, batch: int = 16) -> OpenProtocolEncoder:
    return OpenProtocolEncoder(EncoderOptions("open-protocol", False, limit, batch))


def be(n: int) -> bytes:
    return struct.pack(">Q", n)


def test_record_overhead_is_ticdcs():
    # ticdc pkg/sink/codec/common/message.go:26 MaxRecordOverhead = 5*MaxVarintLen32 + MaxVarintLen64 + 1
    assert RECORD_OVERHEAD == 36


def test_update_golden_bytes():
    # Flags as ticdc pkg/sink/codec/open/message.go:138 initColumnFlags computes them: a bigint pk is
    # binary|handle|pk (11); nullable columns add 64, unsigned 128; numbers and blobs have the binary charset.
    e = RowEvent("shop", "orders", 449, "update", ["id"], COLUMNS,
                 {"id": 1, "amount": "9.99", "note": None, "body": b"hi", "n": 3},
                 {"id": 1, "amount": "19.99", "note": "x", "body": b"hi", "n": 4})
    (key, value), = enc().encode_rows([e])
    key_json = b'{"ts":449,"scm":"shop","tbl":"orders","t":1}'
    value_json = (
        b'{"u":{"id":{"t":8,"h":true,"f":11,"v":1},"amount":{"t":246,"f":65,"v":"19.99"},'
        b'"note":{"t":15,"f":64,"v":"x"},"body":{"t":252,"f":65,"v":"aGk="},"n":{"t":3,"f":193,"v":4}},'
        b'"p":{"id":{"t":8,"h":true,"f":11,"v":1},"amount":{"t":246,"f":65,"v":"9.99"},'
        b'"note":{"t":15,"f":64,"v":null},"body":{"t":252,"f":65,"v":"aGk="},"n":{"t":3,"f":193,"v":3}}}'
    )
    assert key == be(1) + be(len(key_json)) + key_json
    assert value == be(len(value_json)) + value_json


def test_columns_go_out_in_declared_order_whatever_the_image_order():
    # ticdc pkg/sink/codec/open/codec.go:239 writeColumnFieldValues walks tableInfo.GetColumns()
    e = RowEvent("s", "t", 1, "insert", ["id"], {"id": "int", "a": "int", "b": "int"}, None, {"b": 2, "a": 1, "id": 0})
    _, value = enc().encode_row(e)
    assert value == b'{"u":{"id":{"t":3,"h":true,"f":11,"v":0},"a":{"t":3,"f":65,"v":1},"b":{"t":3,"f":65,"v":2}}}'


def test_insert_delete_and_round_trip():
    ins = RowEvent("s", "t", 10, "insert", ["id"], {"id": "int"}, None, {"id": 1})
    dele = RowEvent("s", "t", 11, "delete", ["id"], {"id": "int"}, {"id": 1}, None)
    (key, value), = enc().encode_rows([ins, dele])
    entries = decode_open_protocol(key, value)
    assert entries == [
        ({"ts": 10, "scm": "s", "tbl": "t", "t": 1}, {"u": {"id": {"t": 3, "h": True, "f": 11, "v": 1}}}),
        ({"ts": 11, "scm": "s", "tbl": "t", "t": 1}, {"d": {"id": {"t": 3, "h": True, "f": 11, "v": 1}}}),
    ]


def test_batches_cap_rows_and_bytes():
    rows = [RowEvent("s", "t", i, "insert", ["id"], {"id": "int"}, None, {"id": i}) for i in range(40)]
    messages = enc(batch=16).encode_rows(rows)
    assert [len(decode_open_protocol(k, v)) for k, v in messages] == [16, 16, 8]
    # A byte cap splits before it is exceeded (record overhead counted), and no message passes it.
    one_key, one_value = enc().encode_rows(rows[:1])[0]
    entry = len(one_key) - 8 + len(one_value)
    limit = 8 + RECORD_OVERHEAD + 3 * entry
    split = enc(limit=limit).encode_rows(rows[:10])
    assert all(len(k) + len(v) + RECORD_OVERHEAD <= limit for k, v in split)
    assert [e[0]["ts"] for k, v in split for e in decode_open_protocol(k, v)] == list(range(10))
    assert len(split) == 4
    assert len(enc(limit=limit - 1).encode_rows(rows[:10])) == 5  # two per message then


def test_single_oversized_row_names_the_event():
    big = RowEvent("shop", "orders", 99, "insert", ["id"], {"id": "int", "s": "text"}, None, {"id": 3, "s": "x" * 1000})
    with pytest.raises(MessageTooLargeError, match=r"shop.orders commit_ts=99 pk=\{'id': 3\}"):
        enc(limit=300).encode_rows([big])


def test_ddl_and_resolved_golden_bytes():
    # ticdc pkg/sink/codec/open/codec.go:121 encodeDDLEvent writes scm and tbl always (tbl "" for a schema DDL);
    # tiflow omits the empty tbl (pkg/sink/codec/internal/message_key.go:27 omitempty), ticdc is followed.
    key, value = enc().encode_ddl(DDLEvent("shop", "orders", 1002, "ALTER TABLE orders ADD COLUMN x INT"))
    kj, vj = b'{"ts":1002,"scm":"shop","tbl":"orders","t":2}', b'{"q":"ALTER TABLE orders ADD COLUMN x INT","t":5}'
    assert (key, value) == (be(1) + be(len(kj)) + kj, be(len(vj)) + vj)
    key, value = enc().encode_ddl(DDLEvent("shop", None, 1003, "CREATE DATABASE shop"))
    kj = b'{"ts":1003,"scm":"shop","tbl":"","t":2}'
    assert key == be(1) + be(len(kj)) + kj
    assert decode_open_protocol(key, value) == [({"ts": 1003, "scm": "shop", "tbl": "", "t": 2}, {"q": "CREATE DATABASE shop", "t": 1})]
    # ticdc pkg/sink/codec/open/encoder.go:241 EncodeCheckpointEvent
    key, value = enc().encode_watermark(2000)
    rj = b'{"ts":2000,"t":3}'
    assert (key, value) == (be(1) + be(len(rj)) + rj, be(0))
    assert enc().ddl_to_all_partitions is True


def test_only_output_updated_columns_and_delete_only_handle_key_columns():
    # ticdc pkg/sink/codec/open/codec.go:291 writeColumnFieldValueIfUpdated; codec_test.go:29
    e = RowEvent("s", "t", 12, "update", ["id"], COLUMNS,
                 {"id": 1, "amount": "9.99", "note": "x", "body": b"hi", "n": None},
                 {"id": 1, "amount": "19.99", "note": "x", "body": b"hi", "n": None})
    d = RowEvent("s", "t", 13, "delete", ["id"], COLUMNS, {"id": 1, "amount": "19.99", "note": "x", "body": b"hi", "n": 3}, None)
    options = EncoderOptions("open-protocol", False, 1 << 20, 16,
                             only_output_updated_columns=True, delete_only_output_handle_key_columns=True)
    (key, value), = OpenProtocolEncoder(options).encode_rows([e, d])
    (_, update), (_, delete) = decode_open_protocol(key, value)
    assert update["p"] == {"amount": {"t": 246, "f": 65, "v": "9.99"}}  # NULL before and after: left out
    assert set(update["u"]) == set(COLUMNS)  # the new image stays whole
    assert delete == {"d": {"id": {"t": 8, "h": True, "f": 11, "v": 1}}}
    (key, value), = enc().encode_rows([e, d])
    (_, update), (_, delete) = decode_open_protocol(key, value)
    assert set(update["p"]) == set(delete["d"]) == set(COLUMNS)  # off by default


@pytest.mark.parametrize(
    "before, after, expected",
    [
        (None, 5, {"n": {"t": 3, "f": 193, "v": None}}),  # became non-NULL: written as NULL
        (5, None, {"n": {"t": 3, "f": 193, "v": 5}}),  # became NULL: the old value
        (5, 5, {}),
        ("1.50", "1.5", {}),  # decimals compare by number (MyDecimal.Compare)
    ],
)
def test_only_output_updated_columns_null_transitions(before, after, expected):
    # ticdc pkg/sink/codec/open/codec.go:314-324
    column = "decimal(10,2)" if isinstance(before, str) else "int unsigned"
    e = RowEvent("s", "t", 1, "update", ["id"], {"id": "int", "n": column}, {"id": 1, "n": before}, {"id": 1, "n": after})
    options = EncoderOptions("open-protocol", only_output_updated_columns=True)
    _, value = OpenProtocolEncoder(options).encode_row(e)
    assert orjson.loads(value)["p"] == expected


@settings(max_examples=150, deadline=None)
@given(
    notes=st.lists(st.text(max_size=60), min_size=1, max_size=40),
    batch=st.integers(1, 8),
    slack=st.integers(0, 400),
)
def test_packing_keeps_order_and_both_caps_and_fills_each_message(notes, batch, slack):
    rows = [RowEvent("s", "t", i + 1, "insert", ["id"], {"id": "int", "note": "text"}, None, {"id": i, "note": n})
            for i, n in enumerate(notes)]
    singles = [enc().encode_rows([row])[0] for row in rows]
    limit = max(len(k) + len(v) for k, v in singles) + RECORD_OVERHEAD + slack  # every row fits alone
    encoder = enc(limit=limit, batch=batch)
    messages = encoder.pack([encoder.encode_row(row) for row in rows])
    counts = [len(decode_open_protocol(k, v)) for k, v in messages]
    assert [e[0]["ts"] for k, v in messages for e in decode_open_protocol(k, v)] == [row.commit_ts for row in rows]
    assert all(len(k) + len(v) + RECORD_OVERHEAD <= limit for k, v in messages)
    assert all(n <= batch for n in counts)
    # A message ends only where the next row would pass a cap.
    start = 0
    for (key, value), n in zip(messages[:-1], counts[:-1]):
        following = singles[start + n]
        grown = len(key) + len(value) + RECORD_OVERHEAD + len(following[0]) - 8 + len(following[1])
        assert n == batch or grown > limit
        start += n


@pytest.mark.parametrize(
    "declared, value, reason",
    [
        ("int", True, "column 'x' (int): expected an integer, got bool"),
        ("json", {"a": 1}, "column 'x' (json): expected a string, got dict"),
        ("decimal(10,2)", 1.5, "column 'x' (decimal): expected a string, got float"),
        ("varbinary(8)", "text", "column 'x' (varbinary): expected bytes, got str"),
        ("double", float("nan"), "column 'x': nan cannot be written as JSON"),
        ("varchar(8)", "a\udc80", "a value JSON cannot carry"),
        ("bigint unsigned", 2**64, "a value JSON cannot carry"),
        ("geometry", b"\0", "TiCDC's open-protocol has no form for geometry values"),
    ],
)
def test_values_not_in_canonical_form_are_refused_with_one_line(declared, value, reason):
    from cdcsink.errors import InvalidEventError

    e = RowEvent("s", "t", 7, "insert", ["id"], {"id": "int", "x": declared}, None, {"id": 1, "x": value})
    with pytest.raises(InvalidEventError, match=re.escape(reason)) as info:
        enc().encode_row(e)
    assert str(info.value).startswith("s.t commit_ts=7: open-protocol: ") and "\n" not in str(info.value)


def test_an_image_column_not_declared_is_refused():
    from cdcsink.errors import InvalidEventError

    e = RowEvent("s", "t", 7, "insert", ["id"], {"id": "int"}, None, {"id": 1, "extra": 2})
    with pytest.raises(InvalidEventError, match="column 'extra' is not in columns"):
        enc().encode_row(e)


def test_partition_tables_get_no_ptn():
    # ticdc pkg/sink/codec/open/codec.go:59 writes "ptn" (the physical partition id) for a partitioned table
    # (encoder_test.go:1093 TestE2EPartitionTable); cdcsink's input names no partition, so the key has none.
    key, _ = enc().encode_row(RowEvent("s", "t", 7, "insert", ["a"], {"a": "int"}, None, {"a": 1}))
    assert b"ptn" not in key and orjson.loads(key) == {"ts": 7, "scm": "s", "tbl": "t", "t": 1}


def test_delete_only_handle_key_columns_without_a_handle_key_keeps_every_column():
    # ticdc pkg/sink/codec/open/codec.go:262 fails such a delete ("not found handle key columns for the delete
    # event", codec_test.go:58 TestRowChanged2MsgOnlyHandleKeyColumns); cdcsink sends the whole row instead.
    options = EncoderOptions("open-protocol", delete_only_output_handle_key_columns=True)
    e = RowEvent("s", "t", 7, "delete", [], {"a": "varchar(10)", "b": "varchar(10)"}, {"a": "1", "b": "1"}, None)
    _, value = OpenProtocolEncoder(options).encode_row(e)
    assert orjson.loads(value) == {"d": {"a": {"t": 15, "f": 64, "v": "1"}, "b": {"t": 15, "f": 64, "v": "1"}}}


def test_binary_strings_escape_what_this_pythons_unicode_database_cannot_print():
    # strconv.Quote keeps printable runes (Go 1.25: Unicode 15.0); "printable" here is Python's unicodedata.
    # U+1FAE8 was added in Unicode 15.0: kept where Python knows it, \U-escaped on Python 3.11 (Unicode 14.0).
    # Either way TiCDC's decoder (strconv.Unquote) restores the same bytes: a byte-level difference only.
    import unicodedata

    from cdcsink.codec.common.golang import quote, unquote

    data = "\U0001fae8".encode() + b"\x00\xff"
    quoted = quote(data)
    known = tuple(int(p) for p in unicodedata.unidata_version.split(".")) >= (15, 0)
    assert quoted == ("\U0001fae8" if known else "\\U0001fae8") + "\\x00\\xff"
    assert unquote(quoted) == unquote("\U0001fae8\\x00\\xff") == data


def test_delete_only_output_handle_key_columns_touches_deletes_only():
    # ticdc pkg/sink/codec/open/codec_test.go:58 and tiflow open_protocol_message_test.go:138
    # TestRowChanged2MsgOnlyHandleKeyColumns: create table t(id int primary key, a int)
    options = EncoderOptions("open-protocol", delete_only_output_handle_key_columns=True)
    columns = {"id": "int", "a": "int"}
    row = {"id": 1, "a": 1}
    docs = [orjson.loads(OpenProtocolEncoder(options).encode_row(RowEvent("test", "t", 1, op, ["id"], columns, b, a))[1])
            for op, b, a in (("insert", None, row), ("update", row, row), ("delete", row, None))]
    assert set(docs[0]["u"]) == {"id", "a"}
    assert set(docs[1]["u"]) == set(docs[1]["p"]) == {"id", "a"}
    assert set(docs[2]["d"]) == {"id"}
