import zlib

import pytest

from cdcsink.decode import Decoder, reason_code
from cdcsink.errors import InvalidEventError
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from cdcsink.decode import decode_chunk
from cdcsink.source import Chunk

ROW = (
    b'{"kind":"row","schema":"shop","table":"orders","commit_ts":1001,"op":"insert","pk":["id"],'
    b'"columns":{"id":"bigint","amount":"decimal(10,2)"},"after":{"id":1,"amount":"9.99"}}'
)


def test_wide_integers_keep_every_digit_through_decode_and_encode():
    """A DECIMAL(30,0) sent as a JSON integer wider than 64 bits, and an unsigned
    64-bit integer inside a JSON document, are exact in the event and in every
    message built from it."""
    from cdcsink.codec.canal_json.encoder import CanalJsonEncoder
    from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder
    from cdcsink.codec.options import EncoderOptions
    from cdcsink.route.partition import value_text
    import orjson

    wide, u64 = 123456789012345678901234567890, 2**64 - 1
    line = ROW.replace(b'"amount":"9.99"', b'"amount":%d,"doc":{"n":%d}' % (wide, u64))
    line = line.replace(b'"amount":"decimal(10,2)"', b'"amount":"decimal(30,0)","doc":"json"')
    row = Decoder().decode(line, "f", 1)
    assert row.after["amount"] == str(wide)  # a decimal's canonical form is its text
    assert row.after["doc"] == '{"n": %d}' % u64  # JSON text as TiDB prints it
    canal = orjson.loads(CanalJsonEncoder(EncoderOptions()).encode_row(row)[1])
    assert canal["data"][0]["amount"] == str(wide)
    assert canal["data"][0]["doc"] == '{"n": %d}' % u64
    key, value = OpenProtocolEncoder(EncoderOptions(protocol="open-protocol")).encode_row(row)
    assert b'"v":"%d"' % wide in value
    assert value_text({"n": wide}) == b'{"n":%d}' % wide


def test_row_ddl_resolved():
    d = Decoder()
    row = d.decode(ROW, "f", 1)
    assert isinstance(row, RowEvent)
    assert (row.schema, row.table, row.commit_ts, row.op, row.pk) == ("shop", "orders", 1001, "insert", ["id"])
    assert row.after == {"id": 1, "amount": "9.99"} and row.before is None
    ddl = d.decode(b'{"kind":"ddl","schema":"shop","commit_ts":1002,"query":"CREATE DATABASE shop"}', "f", 2)
    assert isinstance(ddl, DDLEvent) and ddl.table is None
    res = d.decode(b'{"kind":"resolved","commit_ts":1002,"commit_time_ms":5}', "f", 3)
    assert isinstance(res, ResolvedEvent) and res.commit_ts == 1002 and res.commit_time_ms == 5


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"{not json", "not valid JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"kind":"nope"}', "unknown kind 'nope'"),
        (b'{"schema":"s"}', "unknown kind None"),
        (b'{"kind":"row","table":"t","commit_ts":1,"op":"insert","columns":{"a":"int"},"after":{}}', "schema must be"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":"1","op":"insert","columns":{"a":"int"},"after":{}}', "commit_ts must be"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":true,"op":"insert","columns":{"a":"int"},"after":{}}', "commit_ts must be"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":1,"op":"upsert","columns":{"a":"int"},"after":{}}', "unknown op 'upsert'"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":1,"op":"update","columns":{"a":"int"},"after":{}}', "update needs a before image"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":1,"op":"delete","columns":{"a":"int"}}', "delete needs a before image"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":1,"op":"insert","columns":{"a":"int"}}', "insert needs an after image"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":1,"op":"insert","pk":["b"],"columns":{"a":"int"},"after":{}}', "pk must be"),
        (b'{"kind":"row","schema":"s","table":"t","commit_ts":1,"op":"insert","columns":{},"after":{}}', "columns must be"),
        (b'{"kind":"ddl","schema":"s","commit_ts":1,"query":"  "}', "query must be"),
        (b'{"kind":"resolved"}', "commit_ts must be"),
    ],
)
def test_invalid_lines_name_file_and_line(line, reason):
    with pytest.raises(InvalidEventError) as info:
        Decoder().decode(line, "events.ndjson", 7)
    assert str(info.value).startswith("events.ndjson:7: ")
    assert reason in str(info.value)
    assert info.value.raw == line


def test_resolved_must_not_go_back_and_rows_must_follow_it():
    d = Decoder()
    d.decode(b'{"kind":"resolved","commit_ts":10}', "f", 1)
    with pytest.raises(InvalidEventError, match="resolved ts 9 goes back from 10"):
        d.decode(b'{"kind":"resolved","commit_ts":9}', "f", 2)
    d.decode(b'{"kind":"resolved","commit_ts":10}', "f", 3)  # equal is allowed
    with pytest.raises(InvalidEventError, match="commit_ts 10 is not after the resolved ts 10"):
        d.decode(ROW.replace(b"1001", b"10"), "f", 4)


def test_decode_chunk_positions_and_stop_at_invalid():
    lines = [ROW, b"", b'{"kind":"resolved","commit_ts":1001}', b"garbage", ROW]
    chunk = Chunk("f.ndjson", lines, first_line=5, start_offset=100, end_offset=100 + sum(len(l) + 1 for l in lines))
    events, invalid = decode_chunk(Decoder(), chunk)
    assert [type(e).__name__ for e in events] == ["RowEvent", "ResolvedEvent"]
    resolved = events[1]
    assert resolved.position == {
        "path": "f.ndjson",
        "offset": 100 + len(ROW) + 1 + 1 + len(lines[2]) + 1,
        "line": 7,
        # What the resumed run checks the file's bytes before the offset against: the event's own line.
        "line_bytes": len(lines[2]) + 1,
        "line_crc32": zlib.crc32(lines[2] + b"\n"),
    }
    assert invalid is not None and invalid.origin == "f.ndjson:8"


def test_last_line_without_newline_position_is_clamped():
    line = b'{"kind":"resolved","commit_ts":5}'
    chunk = Chunk("f", [line], 1, 0, len(line))
    events, _ = decode_chunk(Decoder(), chunk)
    assert events[0].position["offset"] == len(line)
    assert (events[0].position["line_bytes"], events[0].position["line_crc32"]) == (len(line), zlib.crc32(line))


ROW_FIELDS = b'"kind":"row","schema":"s","table":"t","commit_ts":5,"op":"update","pk":["a"],"columns":{"a":"int"},'


@pytest.mark.parametrize(
    "line, reason",
    [
        # A misspelt field would be dropped unseen and change what is sent: refused, with the field it resembles.
        (b'{"kind":"resolved","commit_ts":5,"commit_time":1700000000000}', "unknown field 'commit_time' (did you mean 'commit_time_ms'?)"),
        (b"{" + ROW_FIELDS + b'"befor":{"a":1},"after":{"a":2}}', "unknown field 'befor' (did you mean 'before'?)"),
        (b"{" + ROW_FIELDS + b'"before":{"a":1},"after":{"a":2},"Op":"delete"}', "unknown field 'Op' (did you mean 'op'?)"),
        (b'{"kind":"ddl","schema":"s","commit_ts":5,"query":"DROP TABLE t","tabel":"t"}', "unknown field 'tabel' (did you mean 'table'?)"),
        # A field of another kind of event is unknown too; with nothing close, the fields the kind has are listed.
        (b'{"kind":"resolved","commit_ts":5,"table":"t"}', "unknown field 'table' (a resolved event has kind, commit_ts, commit_time_ms)"),
        (b'{"kind":"ddl","schema":"s","commit_ts":5,"query":"x","op":"insert"}', "unknown field 'op' (a ddl event has kind, schema, table, commit_ts, query, commit_time_ms)"),
        (b"{" + ROW_FIELDS + b'"after":{"a":2},"before":{"a":1},"source":"x"}', "unknown field 'source' (a row event has kind, schema, table, commit_ts, op, pk, columns, before, after, commit_time_ms)"),
    ],
)
def test_an_unknown_field_is_refused_naming_it(line, reason):
    with pytest.raises(InvalidEventError) as info:
        Decoder().decode(line, "events.ndjson", 7)
    assert str(info.value) == f"events.ndjson:7: {reason}"
    assert reason_code(info.value.reason) == "field"


def test_the_known_fields_are_those_of_the_typed_forms():
    """The slow path's list of fields and the fast path's typed forms name the same fields."""
    from cdcsink.decode import FIELDS, _DDL, _Resolved, _Row

    for kind, typed in (("row", _Row), ("ddl", _DDL), ("resolved", _Resolved)):
        assert set(FIELDS[kind]) == {"kind", *typed.__struct_fields__}


@pytest.mark.parametrize(
    "line, reason",
    [
        # A bad byte inside a string value: its place in the line, not in the string.
        (b'{"kind":"ddl","schema":"s\xff","commit_ts":5,"query":"x"}', "not valid UTF-8 (byte 0xff at column 26, byte offset 25)"),
        # Columns count characters (from 1), byte offsets bytes (from 0): here after two-byte characters.
        ('{"kind":"éé","a":"'.encode() + b'\xc3"}', "not valid UTF-8 (byte 0xc3 at column 19, byte offset 20)"),
        (b'{"a":1,\xff}', "not valid UTF-8 (byte 0xff at column 8, byte offset 7)"),
        (b'\xef\xbb\xbf{"kind":"resolved","commit_ts":1}', "not valid JSON (a UTF-8 byte order mark at column 1: one is skipped only at the start of a file)"),
        (b'{"kind":nul}', "not valid JSON (expecting value at column 9, byte offset 8)"),
        (b'{"kind":"row"} x', "not valid JSON (extra data at column 16, byte offset 15)"),
        ('{"éé":1'.encode(), "not valid JSON (expecting ',' delimiter at column 8, byte offset 9)"),
        (b"[" * 100_000, "not valid JSON (arrays or objects nested too deeply)"),
        # What Python's own parser takes and JSON has no form for: named by its column too.
        (b'{"kind":"resolved","commit_ts":NaN}', "not valid JSON (NaN is not a JSON number at column 32, byte offset 31)"),
        ('{"é":1,"b":-Infinity}'.encode(), "not valid JSON (-Infinity is not a JSON number at column 12, byte offset 12)"),
        (b'{"a":[Infinity]}', "not valid JSON (Infinity is not a JSON number at column 7, byte offset 6)"),
        (b'{"kind":"row","after":' + b"[" * 100_000, "not valid JSON (arrays or objects nested too deeply)"),
    ],
)
def test_undecodable_lines_name_the_place_in_the_line(line, reason):
    with pytest.raises(InvalidEventError) as info:
        Decoder().decode(line, "events.ndjson", 7)
    assert str(info.value) == f"events.ndjson:7: {reason}"
    assert info.value.raw == line
