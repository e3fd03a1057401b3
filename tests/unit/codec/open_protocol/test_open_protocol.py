import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder, decode_open_protocol
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DDLEvent, RowEvent

COLUMNS = {"id": "bigint", "amount": "decimal(10,2)", "note": "varchar(64)", "body": "blob", "n": "int unsigned"}


def enc(limit: int = 1 << 20, batch: int = 16) -> OpenProtocolEncoder:
    return OpenProtocolEncoder(EncoderOptions("open-protocol", False, limit, batch))


def be(n: int) -> bytes:
    return struct.pack(">Q", n)


def test_update_golden_bytes():
    e = RowEvent("shop", "orders", 449, "update", ["id"], COLUMNS,
                 {"id": 1, "amount": "9.99", "note": None, "body": "hi", "n": 3},
                 {"id": 1, "amount": "19.99", "note": "x", "body": "hi", "n": 4})
    (key, value), = enc().encode_rows([e])
    key_json = b'{"ts":449,"scm":"shop","tbl":"orders","t":1}'
    value_json = (
        b'{"u":{"id":{"t":8,"h":true,"f":10,"v":1},"amount":{"t":246,"f":0,"v":"19.99"},'
        b'"note":{"t":15,"f":0,"v":"x"},"body":{"t":252,"f":1,"v":"aGk="},"n":{"t":3,"f":128,"v":4}},'
        b'"p":{"id":{"t":8,"h":true,"f":10,"v":1},"amount":{"t":246,"f":0,"v":"9.99"},'
        b'"note":{"t":15,"f":0,"v":null},"body":{"t":252,"f":1,"v":"aGk="},"n":{"t":3,"f":128,"v":3}}}'
    )
    assert key == be(1) + be(len(key_json)) + key_json
    assert value == be(len(value_json)) + value_json


def test_insert_delete_and_round_trip():
    ins = RowEvent("s", "t", 10, "insert", ["id"], {"id": "int"}, None, {"id": 1})
    dele = RowEvent("s", "t", 11, "delete", ["id"], {"id": "int"}, {"id": 1}, None)
    (key, value), = enc().encode_rows([ins, dele])
    entries = decode_open_protocol(key, value)
    assert entries == [
        ({"ts": 10, "scm": "s", "tbl": "t", "t": 1}, {"u": {"id": {"t": 3, "h": True, "f": 10, "v": 1}}}),
        ({"ts": 11, "scm": "s", "tbl": "t", "t": 1}, {"d": {"id": {"t": 3, "h": True, "f": 10, "v": 1}}}),
    ]


def test_batches_cap_rows_and_bytes():
    rows = [RowEvent("s", "t", i, "insert", ["id"], {"id": "int"}, None, {"id": i}) for i in range(40)]
    messages = enc(batch=16).encode_rows(rows)
    assert [len(decode_open_protocol(k, v)) for k, v in messages] == [16, 16, 8]
    # A byte cap splits before it is exceeded, and no message passes it.
    one_key, one_value = enc().encode_rows(rows[:1])[0]
    limit = 8 + 3 * (len(one_key) - 8 + len(one_value))
    split = enc(limit=limit).encode_rows(rows[:10])
    assert all(len(k) + len(v) <= limit for k, v in split)
    assert [e[0]["ts"] for k, v in split for e in decode_open_protocol(k, v)] == list(range(10))
    assert len(split) == 4


def test_single_oversized_row_names_the_event():
    big = RowEvent("shop", "orders", 99, "insert", ["id"], {"id": "int", "s": "text"}, None, {"id": 3, "s": "x" * 1000})
    with pytest.raises(MessageTooLargeError, match=r"shop.orders commit_ts=99 pk=\{'id': 3\}"):
        enc(limit=300).encode_rows([big])


def test_ddl_and_resolved_golden_bytes():
    key, value = enc().encode_ddl(DDLEvent("shop", "orders", 1002, "ALTER TABLE orders ADD COLUMN x INT"))
    kj, vj = b'{"ts":1002,"scm":"shop","tbl":"orders","t":2}', b'{"q":"ALTER TABLE orders ADD COLUMN x INT","t":5}'
    assert (key, value) == (be(1) + be(len(kj)) + kj, be(len(vj)) + vj)
    key, value = enc().encode_ddl(DDLEvent("shop", None, 1003, "CREATE DATABASE shop"))
    assert decode_open_protocol(key, value) == [({"ts": 1003, "scm": "shop", "t": 2}, {"q": "CREATE DATABASE shop", "t": 1})]
    key, value = enc().encode_watermark(2000)
    rj = b'{"ts":2000,"t":3}'
    assert (key, value) == (be(1) + be(len(rj)) + rj, be(0))
    assert enc().ddl_to_all_partitions is True


def test_only_output_updated_columns_and_delete_only_handle_key_columns():
    e = RowEvent("s", "t", 12, "update", ["id"], COLUMNS,
                 {"id": 1, "amount": "9.99", "note": "x", "body": "hi", "n": 3},
                 {"id": 1, "amount": "19.99", "note": "x", "body": "hi", "n": 3})
    d = RowEvent("s", "t", 13, "delete", ["id"], COLUMNS, {"id": 1, "amount": "19.99", "note": "x", "body": "hi", "n": 3}, None)
    options = EncoderOptions("open-protocol", False, 1 << 20, 16,
                             only_output_updated_columns=True, delete_only_output_handle_key_columns=True)
    (key, value), = OpenProtocolEncoder(options).encode_rows([e, d])
    (_, update), (_, delete) = decode_open_protocol(key, value)
    assert update["p"] == {"amount": {"t": 246, "f": 0, "v": "9.99"}}
    assert set(update["u"]) == set(COLUMNS)  # the new image stays whole
    assert delete == {"d": {"id": {"t": 8, "h": True, "f": 10, "v": 1}}}
    (key, value), = enc().encode_rows([e, d])
    (_, update), (_, delete) = decode_open_protocol(key, value)
    assert set(update["p"]) == set(delete["d"]) == set(COLUMNS)  # off by default


@settings(max_examples=300, deadline=None)
@given(
    notes=st.lists(st.text(max_size=60), min_size=1, max_size=40),
    batch=st.integers(1, 8),
    slack=st.integers(0, 400),
)
def test_packing_keeps_order_and_both_caps_and_fills_each_message(notes, batch, slack):
    rows = [RowEvent("s", "t", i + 1, "insert", ["id"], {"id": "int", "note": "text"}, None, {"id": i, "note": n})
            for i, n in enumerate(notes)]
    singles = [enc().encode_rows([row])[0] for row in rows]
    limit = max(len(k) + len(v) for k, v in singles) + slack  # every row fits alone
    encoder = enc(limit=limit, batch=batch)
    messages = encoder.pack([encoder.encode_row(row) for row in rows])
    counts = [len(decode_open_protocol(k, v)) for k, v in messages]
    assert [e[0]["ts"] for k, v in messages for e in decode_open_protocol(k, v)] == [row.commit_ts for row in rows]
    assert all(len(k) + len(v) <= limit for k, v in messages)
    assert all(n <= batch for n in counts)
    # A message ends only where the next row would pass a cap.
    start = 0
    for (key, value), n in zip(messages[:-1], counts[:-1]):
        following = singles[start + n]
        grown = len(key) + len(value) + len(following[0]) - 8 + len(following[1])
        assert n == batch or grown > limit
        start += n
