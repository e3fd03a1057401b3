"""The open-protocol decoder follows TiCDC's consumer: it fails where TiCDC's decoder
fails (ticdc pkg/sink/codec/open/decoder.go:590 formatColumn) and reads what
TiCDC writes, including the older tiflow bytes."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest

from cdcsink.codec.common.large import compressor
from cdcsink.codec.open_protocol.decoder import OpenProtocolDecoder
from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import build_decoder
from cdcsink.errors import ConfigError
from cdcsink.events import DDLEvent, RowEvent


def frame(entries: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    key, value = struct.pack(">Q", 1), b""
    for k, v in entries:
        key += struct.pack(">Q", len(k)) + k
        value += struct.pack(">Q", len(v)) + v
    return key, value


ROW_KEY = b'{"ts":5,"scm":"s","tbl":"t","t":1}'
ID = b'"id":{"t":3,"h":true,"f":11,"v":1}'


def row_with(column: bytes) -> tuple[bytes, bytes]:
    return frame([(ROW_KEY, b'{"u":{' + ID + b',"c":' + column + b"}}")])


def decode(message: tuple[bytes, bytes]) -> list[Any]:
    return OpenProtocolDecoder().decode(*message)


@pytest.mark.parametrize(
    "column, reason, where",
    [
        (b'{"t":3,"f":65,"v":true}', "true is not a JSON number", "decoder.go:649 integers need a json.Number"),
        (b'{"t":1,"f":65,"v":"1"}', "is not a JSON number", "decoder.go:649"),
        (b'{"t":3,"f":65,"v":1.5}', "1.5 is not", "decoder.go:664 strconv.ParseInt"),
        (b'{"t":3,"f":65,"v":1e3}', "1e3 is not", "decoder.go:664 strconv.ParseInt"),
        (b'{"t":8,"f":65,"v":9223372036854775808}', "out of range", "decoder.go:664 strconv.ParseInt"),
        (b'{"t":8,"f":193,"v":-1}', "is not", "decoder.go:662 strconv.ParseUint"),
        (b'{"t":8,"f":193,"v":18446744073709551616}', "out of range", "decoder.go:662 strconv.ParseUint"),
        (b'{"t":245,"f":65,"v":{"a":1}}', "is not a string", "decoder.go:769 json values are strings"),
        (b'{"t":245,"f":65,"v":"{"}', "is not JSON text", "decoder.go:779 ParseBinaryJSONFromString"),
        (b'{"t":246,"f":65,"v":1.5}', "is not a string", "decoder.go:783 decimals are strings"),
        (b'{"t":246,"f":65,"v":"abc"}', "is not a decimal", "decoder.go:794 MyDecimal.FromString"),
        (b'{"t":16,"f":65,"v":9223372036854775808}', "out of range", "decoder.go:726 json.Number.Int64"),
        (b'{"t":16,"f":65,"v":"1"}', "is not a JSON number", "decoder.go:720"),
        (b'{"t":247,"f":64,"v":"a"}', "is not a JSON number", "decoder.go:735 enum values are numbers"),
        (b'{"t":248,"f":64,"v":"a,b"}', "is not a JSON number", "decoder.go:752 set values are numbers"),
        (b'{"t":13,"f":65,"v":"2000"}', "is not a JSON number", "decoder.go:669"),
        (b'{"t":15,"f":65,"v":"\\\\q"}', "unknown escape", "decoder.go:603 strconv.Unquote"),
        (b'{"t":254,"f":65,"v":"a\\"b"}', "unescaped", "decoder.go:603 strconv.Unquote"),
        (b'{"t":15,"f":64,"v":5}', "is not a string", "decoder.go:596"),
        (b'{"t":252,"f":65,"v":"not base64!"}', "is not base64", "decoder.go:620 base64.StdEncoding"),
        (b'{"t":5,"f":65,"v":"1.5"}', "is not a JSON number", "decoder.go:628"),
        (b'{"t":5,"f":65,"v":1e400}', "out of range", "decoder.go:634 strconv.ParseFloat"),
        (b'{"t":10,"f":65,"v":20200101}', "is not a string", "decoder.go:685"),
        (b'{"t":12,"f":65,"v":"yesterday"}', "is not a date", "decoder.go:695 ParseTime"),
        (b'{"t":11,"f":65,"v":"noon"}', "is not a time", "decoder.go:716 ParseDuration"),
        (b'{"t":255,"f":65,"v":"AAAA"}', "unknown data type 255", "decoder.go:814 geometry is not a known type"),
        (b'{"t":256,"f":65,"v":1}', "out of range", "message.go:51 t is a byte"),
        (b'{"t":3,"h":1,"f":65,"v":1}', "h must be true or false", "message.go:53 h is a *bool"),
    ],
)
def test_fails_where_ticdcs_decoder_fails(column, reason, where):
    with pytest.raises(ValueError, match=reason) as info:
        decode(row_with(column))
    assert "open-protocol entry 1 of 1" in str(info.value) and "'c'" in str(info.value), where


@pytest.mark.parametrize(
    "entries, reason",
    [
        ([(ROW_KEY, b'{"u":{}}')], "neither u nor d"),  # decoder.go rowTypeFromMessageRow: "unknown event type"
        ([(ROW_KEY, b'{"u":[1]}')], "is not an object"),
        ([(b'{"ts":-1,"t":3}', b"")], "commit ts"),
        ([(b'{"ts":1,"t":9}', b"")], "unknown message type 9"),
        ([(b'{"ts":1,"t":3}', b""), (b'{"ts":2,"t":3}', b"")], "entries follow a DDL or resolved entry"),
        ([(ROW_KEY, b'{"u":{' + ID + b"}")], "Expecting"),  # not JSON
    ],
)
def test_broken_messages_fail(entries, reason):
    with pytest.raises(ValueError, match=reason):
        decode(frame(entries))


def test_framing_must_be_whole():
    key, value = frame([(ROW_KEY, b'{"u":{' + ID + b"}}")])
    with pytest.raises(ValueError, match="no version header"):
        OpenProtocolDecoder().decode(b"", value)
    with pytest.raises(ValueError, match="version 2 is not supported"):
        OpenProtocolDecoder().decode(struct.pack(">Q", 2) + key[8:], value)
    with pytest.raises(ValueError, match="runs past the end"):
        OpenProtocolDecoder().decode(key, value[:-1])
    with pytest.raises(ValueError, match="1 keys but 0 values"):
        OpenProtocolDecoder().decode(key, b"")


def test_reads_tiflows_bytes():
    # tiflow (encoding/json) sorts columns by name, escapes <, >, & and writes e-9 exponents: the same rows.
    message = frame([(b'{"ts":5,"scm":"s","tbl":"t","t":1}',
                      b'{"u":{"b":{"t":15,"f":64,"v":"\\u003ca\\u0026\\u003e"},"d":{"t":5,"f":65,"v":1e-7},'
                      b'"id":{"t":3,"h":true,"f":11,"v":1}}}')])
    (row,) = decode(message)
    assert row.after == {"b": "<a&>", "d": 1e-7, "id": 1} and row.pk == ["id"] and row.op == "insert"


def test_update_with_partial_or_empty_old_image():
    # decoder.go assembleDMLEvent: p's missing columns take u's values; an empty p reads as an insert.
    u = b'"u":{' + ID + b',"c":{"t":3,"f":65,"v":2}}'
    (row,) = decode(frame([(ROW_KEY, b"{" + u + b',"p":{"c":{"t":3,"f":65,"v":1}}}')]))
    assert (row.op, row.before, row.after) == ("update", {"id": 1, "c": 1}, {"id": 1, "c": 2})
    (row,) = decode(frame([(ROW_KEY, b"{" + u + b',"p":{}}')]))
    assert (row.op, row.before, row.after) == ("insert", None, {"id": 1, "c": 2})


def test_values_come_back_canonical():
    message = row_with(b'{"t":16,"f":65,"v":-1}')  # Int64 then uint64: a negative bit value wraps, as in Go
    assert decode(message)[0].after["c"] == 2**64 - 1
    message = row_with(b'{"t":254,"f":65,"v":"\\\\x00\\\\377\\\\u00e9\\\\U0001F600\\u00e9"}')
    assert decode(message)[0].after["c"] == b"\x00\xff" + "é😀é".encode()
    message = row_with(b'{"t":252,"f":65,"v":"AQ\\r\\nID"}')  # Go's base64 skips \r and \n
    assert decode(message)[0].after["c"] == b"\x01\x02\x03"
    message = row_with(b'{"t":4,"f":65,"v":0.1}')  # float32(data)
    assert decode(message)[0].after["c"] == struct.unpack("<f", struct.pack("<f", 0.1))[0]


def test_schema_ddl_and_compressed_values(tmp_path):
    options = EncoderOptions("open-protocol", large_message_handle_compression="lz4")
    encoder = OpenProtocolEncoder(options)
    (ddl,) = OpenProtocolDecoder(options).decode(*encoder.encode_ddl(DDLEvent("s", None, 7, "CREATE DATABASE s")))
    assert isinstance(ddl, DDLEvent) and (ddl.schema, ddl.table, ddl.query) == ("s", None, "CREATE DATABASE s")
    event = RowEvent("s", "t", 8, "insert", ["id"], {"id": "int", "x": "text"}, None, {"id": 1, "x": "y" * 300})
    (message,) = encoder.encode_rows([event])
    assert compressor("lz4") is not None and b"yyyy" not in message[1]
    (row,) = OpenProtocolDecoder(options).decode(*message)
    assert row.after == event.after


def test_claim_check_message_reads_the_stored_row(tmp_path):
    options = EncoderOptions("open-protocol", max_message_bytes=450, large_message_handle_option="claim-check",
                             claim_check_storage_uri=f"file://{tmp_path}")
    event = RowEvent("s", "t", 8, "update", ["id"], {"id": "int", "x": "text"}, {"id": 1, "x": "a"}, {"id": 1, "x": "b" * 600})
    (message,) = OpenProtocolEncoder(options).encode_rows([event])
    assert b'"ccl"' in message[0] and b"bbbb" not in message[1]
    (row,) = OpenProtocolDecoder(options).decode(*message)
    assert (row.op, row.before, row.after) == ("update", event.before, event.after)


def test_handle_key_only_message_reads_the_key_columns():
    options = EncoderOptions("open-protocol", max_message_bytes=200, large_message_handle_option="handle-key-only")
    event = RowEvent("s", "t", 8, "delete", ["id"], {"id": "int", "x": "text"}, {"id": 1, "x": "b" * 300}, None)
    (message,) = OpenProtocolEncoder(options).encode_rows([event])
    assert orjson.loads(message[0][16:])["ohk"] is True
    (row,) = OpenProtocolDecoder(options).decode(*message)
    assert (row.op, row.before) == ("delete", {"id": 1})


def test_build_decoder():
    assert isinstance(build_decoder(EncoderOptions("open-protocol")), OpenProtocolDecoder)
    with pytest.raises(ConfigError, match="no decoder for protocol 'avro'"):
        build_decoder(EncoderOptions("avro"))
