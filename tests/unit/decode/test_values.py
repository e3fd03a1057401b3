"""Row values: each type's input forms, their canonical values, and what is
refused (as ``file:line: side: column 'x': reason``, counted by reason code)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdcsink.decode import Decoder, reason_code
from cdcsink.decode.values import go_json_float, tidb_json_text
from cdcsink.errors import InvalidEventError


def line(columns: dict[str, Any], after: dict[str, Any] | None = None, *, op: str = "insert", pk: list[str] | None = None,
         before: dict[str, Any] | None = None) -> bytes:
    event: dict[str, Any] = {"kind": "row", "schema": "s", "table": "t", "commit_ts": 10, "op": op,
                             "pk": ["id"] if pk is None else pk, "columns": {"id": "int", **columns}}
    if after is not None:
        event["after"] = {"id": 1, **after}
    if before is not None:
        event["before"] = {"id": 1, **before}
    return json.dumps(event).encode()


def decode_value(declared: Any, value: Any) -> Any:
    raw = line({"c": declared}, {"c": value})
    fast = Decoder().decode(raw, "f", 1)
    slow = Decoder()._decode_slow(raw, "f", 1)
    assert fast.after == slow.after
    return fast.after["c"]


def refusal(raw: bytes) -> str:
    for decode in (Decoder().decode, Decoder()._decode_slow):
        with pytest.raises(InvalidEventError) as info:
            decode(raw, "events.ndjson", 3)
    assert str(info.value).startswith("events.ndjson:3: ") and "\n" not in str(info.value)
    return info.value.reason


ACCEPTED = [
    # integers: exact, bool as 1/0, the whole range (unsigned from 0)
    ("tinyint", -128, -128), ("tinyint", 127, 127), ("tinyint unsigned", 255, 255), ("tinyint(1)", True, 1),
    ("bool", False, 0), ("smallint unsigned", 65535, 65535), ("mediumint", -(2**23), -(2**23)),
    ("int unsigned", 2**32 - 1, 2**32 - 1), ("bigint", -(2**63), -(2**63)), ("bigint unsigned", 2**64 - 1, 2**64 - 1),
    ("int(10) unsigned zerofill", 42, 42),
    ("bit(1)", True, 1), ("bit(64)", 2**64 - 1, 2**64 - 1), ("year", 2155, 2155), ("year", 0, 0), ("year", 1901, 1901),
    # floats: float rounded to float32 as MySQL stores it; double as given, an integer widened
    ("float", 0.1, 0.10000000149011612), ("float", 3, 3.0), ("double", 0.1, 0.1), ("double", 2**64, 1.8446744073709552e19),
    # decimal: text with exactly the column's scale; an integer; a negative zero is zero
    ("decimal(10,2)", "9.99", "9.99"), ("decimal(10,2)", "9.9", "9.90"), ("decimal(10,2)", "+009.900", "9.90"),
    ("decimal(10,2)", 7, "7.00"), ("decimal(10,2)", "-0.00", "0.00"), ("decimal(10,2)", ".5", "0.50"),
    ("decimal(65,30)", "1", "1." + "0" * 30), ("decimal(30,0)", 123456789012345678901234567890, "123456789012345678901234567890"),
    ("decimal", "12.0", "12"), ("decimal(5,0) unsigned", "99999", "99999"),
    # date and time: the canonical text, fraction padded to the column's digits
    ("date", "2024-02-29", "2024-02-29"), ("date", "0000-00-00", "0000-00-00"),
    ("datetime", "2025-11-22 10:00:00", "2025-11-22 10:00:00"), ("datetime", "2025-11-22 10:00:00.000", "2025-11-22 10:00:00"),
    ("datetime(6)", "2025-11-22 10:00:00.5", "2025-11-22 10:00:00.500000"), ("timestamp(3)", "1970-01-01 00:00:01", "1970-01-01 00:00:01.000"),
    ("time", "-838:59:59", "-838:59:59"), ("time(6)", "01:02:03.25", "01:02:03.250000"), ("time", "-00:00:00", "00:00:00"),
    ("time", "005:00:00", "05:00:00"), ("time", "838:00:00", "838:00:00"), ("time(1)", "-838:59:59.0", "-838:59:59.0"),
    # text strings as given, any character
    ("varchar(64)", "é\u0000\u2028😀", "é\u0000\u2028😀"), ("text", "", ""), ("char(10)", "x", "x"),
    # binary: text is its UTF-8 bytes; base64 and hex give any bytes
    ("varbinary(64)", "é", "é".encode()), ("blob", {"base64": "AP8="}, b"\x00\xff"), ("binary(2)", {"hex": "00FF"}, b"\x00\xff"),
    ("longblob", {"base64": ""}, b""), ("varchar(8) character set binary", "a", b"a"),
    ({"type": "varchar(8)", "charset": "binary"}, {"hex": "ff"}, b"\xff"),
    # enum: a member (exact) or its 1-based index; set: "a,b", a list or the bitmask
    ("enum('a','b','C d','é')", "C d", 3), ("enum('a','b')", 2, 2), ("enum('a','b') collate utf8mb4_general_ci", "B", 2),
    ("set('a','b','c')", "c,a", 5), ("set('a','b','c')", ["b", "b"], 2), ("set('a','b','c')", 7, 7), ("set('a','b')", "", 0),
    ({"type": "set('x','Y')", "collation": "utf8mb4_0900_ai_ci"}, "y,X", 3),
    # json: a string is JSON text, any other value the document; printed as TiDB does
    ("json", {"b": [1, 2.5, None], "a": True}, '{"a": true, "b": [1, 2.5, null]}'), ("json", '{"b":1,"a":"x"}', '{"a": "x", "b": 1}'),
    ("json", '"text"', '"text"'), ("json", "null", "null"), ("json", 1.0, "1.0"), ("json", [2**64 - 1, -(2**63)], "[18446744073709551615, -9223372036854775808]"),
]


@pytest.mark.parametrize("declared, value, canonical", ACCEPTED)
def test_each_input_form_becomes_the_canonical_value(declared, value, canonical):
    result = decode_value(declared, value)
    assert result == canonical and type(result) is type(canonical)


REFUSED = [
    ("tinyint", 128, "128 is out of range for tinyint (-128 .. 127)"),
    ("tinyint unsigned", -1, "-1 is out of range for tinyint unsigned (0 .. 255)"),
    ("bigint unsigned", 2**64, "out of range for bigint unsigned"),
    ("int", "12", "expected an integer for int, got a string ('12')"),
    ("int", 1.5, "expected an integer for int, got the number 1.5"),
    ("bit(3)", 8, "8 is out of range for bit(3) (0 .. 7)"),
    ("year", 1900, "1900 is out of range for year"),
    ("year", True, "expected an integer for year, got true"),
    ("float", 1e39, "out of range for float"),
    ("double", "1.5", "expected a number for double, got a string"),
    ("decimal(10,2)", 9.99, 'a decimal given as the JSON number 9.99: write it as a string ("9.99")'),
    ("decimal(10,2)", "9.999", "has more fraction digits than decimal(10,2) keeps (2)"),
    ("decimal(4,2)", "100.5", "'100.5' is out of range for decimal(4,2)"),
    ("decimal(10,2)", "1e3", "is not a decimal number"),
    ("decimal(10,2) unsigned", "-1", "out of range for decimal(10,2) unsigned"),
    ("date", "2024-13-01", "is not a date 'YYYY-MM-DD'"),
    ("date", "2024-01-01 00:00:00", "is not a date"),
    ("datetime", "2025-11-22T10:00:00", "is not a datetime 'YYYY-MM-DD hh:mm:ss[.fraction]'"),
    ("datetime(3)", "2025-11-22 10:00:00.1234", "has more fraction digits than datetime(3) keeps (3)"),
    ("time", "839:00:00", "out of range for time"),
    ("time(1)", "838:59:59.1", "out of range for time(1)"),
    ("time", 60, "expected a string '[-]hh:mm:ss[.fraction]' for time"),
    ("varchar(8)", 5, "expected a string, got the integer 5"),
    ("text", {"base64": "AA=="}, "expected a string, got an object"),
    ("blob", {"base64": "@@"}, "base64 value does not decode"),
    ("blob", {"hex": "abc"}, "hex value does not decode"),
    ("blob", {"base64": "AA==", "hex": "00"}, 'expected a string (its UTF-8 bytes), {"base64": "..."} or {"hex": "..."}'),
    ("blob", 5, "for a binary column, got the integer 5"),
    ("enum('a','b')", "c", "'c' is not a member of enum('a', 'b')"),
    ("enum('a','b')", "A", "'A' is not a member"),
    ("enum('a','b')", 3, "enum index 3 is out of range (1 .. 2)"),
    ("enum('a','b')", 0, "enum index 0 is out of range"),
    ("set('a','b')", "a,z", "'z' is not a member of set('a', 'b')"),
    ("set('a','b')", 4, "set bitmask 4 is out of range (0 .. 3)"),
    ("set('a','b')", [1], "a set member must be a string"),
    ("json", "{nope", "JSON text that does not parse"),
    ("json", "[" * 101 + "0" + "]" * 101, "a JSON document TiDB cannot store: nested deeper than 100 levels"),
    ("json", 10**400, "a JSON document TiDB cannot store: the number"),
    ("int not null", None, "NULL, but the column is NOT NULL"),
    ("geometry", "POINT(1 1)", "a spatial value cannot be sent"),
    ("point", {"hex": "00"}, "a spatial value cannot be sent"),
    ({"type": "json", "nullable": False}, None, "NULL, but the column is NOT NULL"),
]


@pytest.mark.parametrize("declared, value, reason", REFUSED)
def test_what_cannot_be_encoded_honestly_is_refused_naming_the_column(declared, value, reason):
    got = refusal(line({"c": declared}, {"c": value}))
    assert got.startswith("after: column 'c': ") and reason in got, got
    assert reason_code(got) == "value"


def test_a_json_document_100_levels_deep_is_taken():
    assert decode_value("json", "[" * 100 + "0" + "]" * 100) == "[" * 100 + "0" + "]" * 100


def test_the_before_image_is_named_and_checked_too():
    got = refusal(line({"c": "int"}, {"c": 1}, op="update", before={"c": "x"}))
    assert got.startswith("before: column 'c': expected an integer")


@pytest.mark.parametrize(
    "raw, reason, code",
    [
        (line({"c": "int"}, {"c": 1, "d": 2}), "after: column 'd' is not declared in columns", "image"),
        (line({"c": "int"}, {"d": 2}), "after: column 'd' is not declared in columns", "image"),
        (json.dumps({"kind": "row", "schema": "s", "table": "t", "commit_ts": 1, "op": "delete", "pk": ["id"],
                     "columns": {"id": "int", "c": "int"}, "before": {"c": 1}}).encode(), "before: pk column 'id' is missing", "image"),
        (line({"c": "int"}, {"c": None}, pk=["id", "c"]), "after: column 'c': NULL, but it is in the primary key", "value"),
        (line({"c": "bigintt"}, {"c": 1}), "column 'c': unknown MySQL type 'bigintt' in 'bigintt'", "column"),
        (line({"c": {"type": "int", "signed": True}}, {"c": 1}), "column 'c': unknown attribute 'signed'", "column"),
        (line({"c": {"type": "int", "nullable": "no"}}, {"c": 1}), "column 'c': nullable must be true or false", "column"),
        (line({"c": {"nullable": True}}, {"c": 1}), "column 'c': type must be a string", "column"),
        (line({"c": 5}, {"c": 1}), "columns must be a non-empty object of column name to SQL type", "column"),
        (line({"c": "enum(a)"}, {"c": 1}), "column 'c': cannot read the members of 'enum(a)'", "column"),
        (line({"c": "int"}, {"c": 1}, pk=["id", "id"]), "pk must not name a column twice", "column"),
    ],
)
def test_images_and_declarations_that_do_not_fit_are_refused(raw, reason, code):
    got = refusal(raw)
    assert got.startswith(reason) or reason in got, got
    assert reason_code(got) == code


def test_the_new_reason_codes_are_listed_for_the_metric():
    from cdcsink.decode import REASON_CODES

    assert {"column", "value", "image"} <= set(REASON_CODES)


def test_an_image_may_leave_out_columns_outside_the_pk():
    event = Decoder().decode(line({"c": "int", "d": "decimal(4,1)"}, {"d": "1"}), "f", 1)
    assert event.after == {"id": 1, "d": "1.0"}


def test_the_object_form_sets_what_a_type_string_cannot():
    raw = line({"c": {"type": "varchar(8)", "charset": "binary", "nullable": False, "unique": True, "indexed": False}}, {"c": "hi"})
    event = Decoder().decode(raw, "f", 1)
    column = event.table_info.column("c")
    assert (column.type_name, column.binary, column.nullable, column.unique_key) == ("varbinary", True, False, True)
    assert event.after["c"] == b"hi"


def test_the_table_is_parsed_once_per_change_of_its_columns():
    decoder = Decoder()
    first = decoder.decode(line({"c": "int"}, {"c": 1}), "f", 1)
    second = decoder.decode(line({"c": "int"}, {"c": 2}), "f", 2)
    assert second.table_info is first.table_info and second.columns is first.columns
    changed = decoder.decode(line({"c": "bigint"}, {"c": 3}), "f", 3)
    assert changed.table_info is not first.table_info and changed.table_info.column("c").type_name == "bigint"
    slow = decoder._decode_slow(line({"c": "bigint"}, {"c": 4}), "f", 4)
    assert slow.table_info is changed.table_info


def test_every_byte_string_round_trips_through_base64_and_hex():
    import base64

    every = bytes(range(256))
    assert decode_value("longblob", {"base64": base64.b64encode(every).decode()}) == every
    assert decode_value("varbinary(256)", {"hex": every.hex()}) == every


def test_the_kafka_source_decodes_record_values_with_the_same_rules():
    from types import SimpleNamespace

    from cdcsink.decode import decode_records

    good = line({"c": "enum('a','b')"}, {"c": "b"})
    bad = line({"c": "enum('a','b')"}, {"c": "z"})
    chunk = SimpleNamespace(origin="in[0]", lines=[good, bad], offsets=[7, 8])
    events, invalid = decode_records(Decoder(), chunk)
    assert [event.after["c"] for event in events] == [2]
    assert invalid is not None and str(invalid) == "in[0]@8: after: column 'c': 'z' is not a member of enum('a', 'b')"


# tidb pkg/types/json_binary_test.go TestBinaryJSONMarshalUnmarshal: texts TiDB prints back unchanged.
@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, "2", {"aa": "bb"}, 4, null], "b": true, "c": null}',
        '{"aaaaaaaaaaa": [1, "2", {"aa": "bb"}, 4.1], "bbbbbbbbbb": true, "ccccccccc": "d"}',
        '[{"a": 1, "b": true}, 3, 3.5, "hello, world", null, true]',
        '{"a": "&<>"}',
    ],
)
def test_json_text_prints_as_tidb_prints_it(text):
    assert tidb_json_text(json.loads(text)) == text


def test_json_keys_sort_by_bytes_and_strings_escape_as_go_does():
    # tidb pkg/types/json_binary_test.go TestGetKeys: {"name": .., "age": ..} -> keys age, name
    assert tidb_json_text({"name": "Tom", "age": 19}) == '{"age": 19, "name": "Tom"}'
    assert tidb_json_text({"é": 1, "z": 2, "Z": 3}) == '{"Z": 3, "z": 2, "é": 1}'
    # tidb pkg/types/json_binary_test.go TestQuoteString
    assert tidb_json_text('\\ " \b \f \n \r \t') == '"\\\\ \\" \\b \\f \\n \\r \\t"'
    assert tidb_json_text("\x00\x1f\x7f\u2028\u2029é") == '"\\u0000\\u001f\x7f\\u2028\\u2029é"'


@pytest.mark.parametrize(
    "number, text",
    [
        (1.0, "1.0"), (-0.0, "-0.0"), (0.1, "0.1"), (100.0, "100.0"), (1.25e-3, "0.00125"), (123456789.1234567, "123456789.1234567"),
        (1e-15, "0.000000000000001"), (9.99e-16, "9.99e-16"), (999999999999999.9, "999999999999999.9"), (1e15, "1e15"),
        (1.5e300, "1.5e300"), (5e-324, "5e-324"), (-2.5e20, "-2.5e20"), (1e21, "1e21"),
    ],
)
def test_json_doubles_print_as_tidb_marshal_float64(number, text):
    # tidb pkg/types/json_binary.go marshalFloat64To: 'f' form with ".0" kept on whole
    # numbers, 'e' form (no "+", exponent unpadded) below 1e-15 and from 1e15 up.
    assert go_json_float(number) == text


def test_json_integers_beyond_uint64_become_doubles_as_in_tidb():
    assert tidb_json_text([2**64, -(2**63) - 1]) == "[1.8446744073709552e19, -9.223372036854776e18]"
