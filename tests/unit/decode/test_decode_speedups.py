"""The compiled row decoder (``cdcsink/decode/_speedups.c``) against the
pure-Python :class:`~cdcsink.decode.Decoder`: on every line it returns None
(not taken) or exactly the event the Python path builds, and a decoder using
it gives the same events, or the same error, line for line."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from cdcsink import decode as decode_module
from cdcsink.codec.schema import GEOMETRY, KNOWN_TYPES, table_schema
from cdcsink.decode import Decoder
from cdcsink.errors import InvalidEventError
from cdcsink.events import DELETE, INSERT, UPDATE, RowEvent
from cdcsink.speedups import disabled
from tests.input_forms import input_forms
from tests.unit.codec.strategies import DECLARED_TYPES, tables, value_strategy
from tests.workload import generate

compiled = decode_module._speedups
needs_compiled = pytest.mark.skipif(compiled is None, reason="CDCSINK_NO_EXTENSIONS is set")  # see the test below

#: Every declared type of the codec strategies, and those that reach the other
#: paths of the plan: a geometry (NULL only), decimals without a whole digit or
#: fraction, synonyms.
TYPES = (*DECLARED_TYPES, "geometry", "decimal(4,4)", "decimal(3,0)", "numeric(6,3) unsigned", "real", "time(3)",
         "datetime(3)", "timestamp(6)", "varchar(10) NOT NULL", "char(4) character set binary")


def test_decode_compiled_in_use() -> None:
    """The compiled decoder is built and loaded (so a C file that stops
    compiling fails here instead of leaving the Python path in use unseen)."""
    if disabled():
        assert compiled is None and Decoder()._decode_row is None
    else:
        assert compiled is not None and Decoder()._decode_row is compiled.decode_row


def test_every_type_of_the_model_is_in_the_tested_tables() -> None:
    declared = {"id": "bigint", **{f"c{i}": t for i, t in enumerate(TYPES)}}
    tested = {column.tp for column in table_schema("db", "t", declared, ["id"]).columns}
    assert tested >= KNOWN_TYPES - {6, 253}  # NULL and VAR_STRING have no declaration of their own


# --- comparing results ------------------------------------------------------


def _typed(value: Any) -> Any:
    """``value`` with the type of every part spelt out (1 == 1.0 == True in Python)."""
    kind = type(value)
    if kind is dict:
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if kind is list:
        return ("list", [_typed(v) for v in value])
    if kind is float:
        return ("float", value.hex())
    return (kind.__name__, value)


def _fields(event: Any) -> Any:
    if type(event) is RowEvent:
        fields = {name: _typed(getattr(event, name)) for name in RowEvent.__slots__ if name != "_info"}
        return ("RowEvent", fields, event.table_info)
    return (type(event).__name__, {name: _typed(getattr(event, name)) for name in event.__slots__})


def _outcome(decoder: Decoder, raw: bytes, line: int) -> Any:
    try:
        return _fields(decoder.decode(raw, "f", line))
    except InvalidEventError as error:
        return ("invalid", str(error))


# --- the lines --------------------------------------------------------------

#: Any JSON value.
junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
#: Strings that take every escape and every width of UTF-8.
texts = st.sampled_from(["", "a/b", 'q"\\', "\x00\x1f\t\n\r\b\f", "<>&", "\u2028\u2029", "é", "日本", "😀", "\ufeff"]) | st.text(
    st.characters(exclude_categories=("Cs",)), max_size=12
)


def _usually(draw: st.DrawFn) -> bool:
    """True but one time in 20 (on a value hypothesis does not favour as it does 0)."""
    return draw(st.integers(0, 19)) != 7


@st.composite
def near(draw: st.DrawFn, text: str) -> str:
    """``text`` with one character changed, added or taken away, or a sign put before it."""
    at = draw(st.integers(0, len(text) - 1))
    char = draw(st.sampled_from("0123456789-.: 9"))
    how = draw(st.integers(0, 4))
    if how == 0:
        return text[:at] + char + text[at + 1 :]
    if how == 1:
        return text[:at] + text[at + 1 :]
    if how == 2:
        return text[:at] + char + text[at:]
    if how == 3:
        return "-" + text
    return text.lstrip("-") + draw(st.sampled_from(["0", ".0", ".", " "]))


@st.composite
def values_of(draw: st.DrawFn, column: Any, spoilt: bool) -> Any:
    """A value of ``column``: canonical or another input form; ``spoilt``: also
    an edge, a text next to the canonical one, or junk."""
    canonical = draw(value_strategy(column)) if column.tp != GEOMETRY else None
    how = draw(st.integers(0, 9 if spoilt else 5))
    if how <= 5:
        value = draw(input_forms(column, canonical))
        return value if type(value) is not bytes else value.decode("latin-1")
    if how == 6:
        if type(canonical) is str and canonical:  # next to the canonical text: the edges of its pattern
            return draw(near(canonical))
        return draw(texts)
    if how == 7:
        return draw(st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 2**100, -0.0, 1e308,
                                     0.1, True, False, None, 255, 256, -1, 1901, 2155, 1900]))
    return draw(junk)


@st.composite
def images(draw: st.DrawFn, table: Any) -> dict[str, Any]:
    spoilt = draw(st.integers(-len(table.columns), len(table.columns) - 1))  # the column that may get a bad value (if any)
    image = {column.name: draw(values_of(column, i == spoilt)) for i, column in enumerate(table.columns)}
    change = draw(st.integers(0, 19))
    if change == 7 and len(image) > 1:  # a column left out
        del image[draw(st.sampled_from(sorted(image)))]
    elif change == 8:  # an undeclared one
        image[draw(st.sampled_from(["zz", "ID", ""]))] = 1
    return image


@st.composite
def row_objects(draw: st.DrawFn) -> dict[str, Any]:
    table = draw(tables(TYPES, max_columns=5))
    op = draw(st.sampled_from([INSERT, UPDATE, DELETE]))
    columns = {
        column.name: draw(st.sampled_from([column.declared, {"type": column.declared}])) if column.name != "id" else "bigint"
        for column in table.columns
    }
    row: dict[str, Any] = {"kind": "row", "schema": draw(st.sampled_from(["db", "é", "s\"q"])), "table": draw(st.sampled_from(["t1", "t2"])),
                           "commit_ts": draw(st.integers(0, 60) if _usually(draw) else st.sampled_from([2**63 - 1, 2**63, -1])), "op": op,
                           "columns": columns}
    if draw(st.booleans()):
        row["pk"] = draw(st.sampled_from([["id"], []]) if _usually(draw) else st.sampled_from([["id", "id"], ["nope"], None]))
    for side, needed in (("before", op != INSERT), ("after", op != DELETE)):
        if needed == _usually(draw):  # (given where needed, left out or null where not)
            row[side] = draw(images(table))
        elif draw(st.booleans()):
            row[side] = None
    ms = draw(st.integers(0, 4))
    if ms == 1:
        row["commit_time_ms"] = None
    elif ms >= 2:
        row["commit_time_ms"] = draw(st.integers(0, 2**63 - 1) if _usually(draw) else st.sampled_from([2**63, -1, 1.5]))
    return row


other_lines = st.one_of(
    st.builds(lambda ts: {"kind": "resolved", "commit_ts": ts}, st.integers(0, 30)),
    st.builds(lambda ts: {"kind": "ddl", "schema": "db", "table": "t1", "commit_ts": ts, "query": "ALTER TABLE t1 COMMENT 'x'"},
              st.integers(0, 40)),
)


def _write(obj: dict[str, Any], rng: random.Random) -> bytes:
    """``obj`` as a JSON line in one of the ways a producer may write it."""
    items = list(obj.items())
    if rng.random() < 0.3:
        rng.shuffle(items)
    separators = rng.choice([(",", ":"), (", ", ": "), (" ,\t", " :\r\n ")])
    text = json.dumps(dict(items), ensure_ascii=rng.random() < 0.5, separators=separators)
    if rng.random() < 0.2:
        text = text.replace("/", "\\/")
    if rng.random() < 0.1:
        text = " \t" + text + "\r\n "
    return text.encode("utf-8", "surrogatepass")


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    """A line spoilt the ways input goes wrong."""
    how = rng.randrange(10)
    at = rng.randrange(len(raw) + 1)
    if how == 0:
        return raw[:at] + bytes([rng.randrange(256)]) + raw[at + 1 :]
    if how == 1:
        return raw[:at]
    if how == 2:  # a key twice
        key = rng.choice([b'"op":"delete"', b'"kind":"row"', b'"commit_ts":3', b'"pk":[]', b'"after":null', b'"schema":"db"'])
        return b"{" + key + b"," + raw[raw.index(b"{") + 1 :]
    if how == 3:  # a field no event has, or a misspelt one
        key = rng.choice([b'"extra":1', b'"befor":{}', b'"query":"x"', b'"Kind":"row"'])
        return b"{" + key + b"," + raw[raw.index(b"{") + 1 :]
    if how == 4:  # a key spelt with an escape
        return raw.replace(b'"schema"', b'"sch\\u0065ma"', 1)
    if how == 5:
        return b"\xef\xbb\xbf" + raw
    if how == 6:
        return raw + rng.choice([b"x", b",", b"}", b"{}", b"\x00"])
    if how == 7:  # nested deeply
        depth = rng.choice([20, 31, 40, 200])
        return raw.replace(b'"after":{', b'"after":{"deep":' + b"[" * depth + b"]" * depth + b",", 1)
    if how == 8:  # a lone surrogate, or bad UTF-8 in a string
        return raw.replace(b'"db"', rng.choice([b'"\\ud800"', b'"\\udc00x"', b'"\xed\xa0\x80"', b'"\xff"', b'"\\ud83d\\u0041"']), 1)
    return raw.replace(b":", b":" + rng.choice([b"01", b"1.", b"-", b"tru", b"nul"]), 1)


@st.composite
def lines(draw: st.DrawFn) -> list[bytes]:
    """Row lines (valid or not), resolved and DDL lines between them."""
    rng = draw(st.randoms(use_true_random=False))
    objects = draw(st.lists(st.one_of(row_objects(), row_objects(), row_objects(), other_lines), min_size=1, max_size=8))
    result = []
    for obj in objects:
        if obj["kind"] == "row" and not _usually(draw):  # a field of a wrong type
            obj[draw(st.sampled_from(sorted(obj)))] = draw(junk)
        raw = _write(obj, rng)
        if not _usually(draw):
            raw = _mutate(raw, rng)
        result.append(raw)
    return result


# --- the properties -----------------------------------------------------------


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(lines(), st.sampled_from([0, 0, 5, 20]))
def test_the_compiled_decoder_builds_the_python_event_or_declines(batch: list[bytes], last_resolved: int) -> None:
    """For every line, the compiled decoder's event is the pure-Python
    decoder's, field by field (types and key order included), or None; a
    decoder using it gives the same events and errors (and keeps the same
    resolved ts) as one that does not."""
    fast, pure = Decoder(last_resolved), Decoder(last_resolved, use_compiled=False)
    for number, raw in enumerate(batch, 1):
        direct = compiled.decode_row(fast, raw, number)
        expected = _outcome(pure, raw, number)
        if direct is not None:
            assert _fields(direct) == expected, raw
        assert _outcome(fast, raw, number) == expected, raw
        assert fast.last_resolved_ts == pure.last_resolved_ts


@st.composite
def canonical_rows(draw: st.DrawFn) -> tuple[Any, bytes]:
    """A valid row line: every value in its canonical JSON form (bytes as base64)."""
    table = draw(tables(TYPES, max_columns=8))
    op = draw(st.sampled_from([INSERT, UPDATE, DELETE]))

    def image() -> dict[str, Any]:
        values = {}
        for column in table.columns:
            if column.tp == GEOMETRY:  # (only NULL: no spatial value can be sent)
                values[column.name] = None
                continue
            value = draw(value_strategy(column))
            values[column.name] = draw(input_forms(column, value)) if type(value) is bytes else value
        return values

    row: dict[str, Any] = {"kind": "row", "schema": "db", "table": "t", "commit_ts": 7, "op": op, "pk": ["id"],
                           "columns": {column.name: column.declared for column in table.columns},
                           "commit_time_ms": draw(st.none() | st.integers(0, 2**63 - 1))}
    if op != INSERT:
        row["before"] = image()
    if op != DELETE:
        row["after"] = image()
    return table, _write(row, draw(st.randoms(use_true_random=False)))


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(canonical_rows())
def test_valid_rows_of_every_type_are_taken(case: tuple[Any, bytes]) -> None:
    """A valid row, whatever its column types, whitespace, key order and string
    escapes, is decoded by the compiled decoder (not left to the Python path),
    to the Python path's event."""
    _, raw = case
    event = compiled.decode_row(Decoder(), raw, 1)
    assert event is not None, raw
    assert _fields(event) == _outcome(Decoder(use_compiled=False), raw, 1)


@needs_compiled
@pytest.mark.parametrize("declared, value", [
    ("bigint", -(2**63)), ("int unsigned", 4294967295), ("bigint unsigned", 2**64 - 1), ("tinyint", None),
    ("decimal(10,2)", "-12.50"), ("decimal(10,2)", "0.00"), ("decimal(4,4)", "0.1234"), ("decimal(5,0) unsigned", "99999"),
    ("date", "2024-02-29"), ("datetime", "2024-01-02 23:59:59"), ("datetime(6)", "2024-01-02 03:04:05.123456"),
    ("timestamp(3)", "1970-01-01 00:00:01.000"), ("time", "838:59:59"), ("time(2)", "-12:00:00.50"),
    ("varchar(64)", 'a "quoted" \\ \u00e9 \U0001f600 \n'), ("text", ""), ("double", 1.5e-300), ("float", 0.1),
    ("year", 2024), ("varbinary(8)", "bytes"), ("bit(3)", 5), ("enum('a','b')", "b"), ("json", '{"a": 1}'),
])
def test_a_line_of_each_common_type_is_taken(declared: str, value: Any) -> None:
    line = {"kind": "row", "schema": "db", "table": "t", "commit_ts": 2, "op": "update", "pk": ["id"],
            "columns": {"id": "bigint", "v": declared}, "before": {"id": 1, "v": value}, "after": {"id": 1, "v": value}}
    raw = json.dumps(line).encode()
    decoder = Decoder()
    event = compiled.decode_row(decoder, raw, 3)
    assert event is not None
    assert _fields(event) == _outcome(Decoder(use_compiled=False), raw, 3)
    assert compiled.decode_row(decoder, raw, 4) is not None  # and again, from the table's cached declaration


@needs_compiled
def test_the_bench_workload_is_taken_whole() -> None:
    """Every row line of the benchmark workload is decoded by the compiled
    decoder, to the Python path's event; only resolved lines are left to it."""
    workload = generate(3000, tables=20, keys=200, resolved_every=100, ddl_every=500)
    fast, pure = Decoder(), Decoder(use_compiled=False)
    declined = []
    for number, raw in enumerate(workload.lines):
        event = compiled.decode_row(fast, raw, number)
        expected = _outcome(pure, raw, number)
        if event is None:
            declined.append(expected[0])
            fast.decode(raw, "f", number)
        else:
            assert _fields(event) == expected
    assert set(declined) == {"ResolvedEvent", "DDLEvent"}


@needs_compiled
def test_a_changed_declaration_is_parsed_again() -> None:
    """A table whose declaration text changes gets the new one's checks; an
    invalid declaration is left to the Python path, which names it."""
    decoder = Decoder()
    first = b'{"kind":"row","schema":"db","table":"t","commit_ts":1,"op":"insert","pk":["id"],"columns":{"id":"bigint","v":"int"},"after":{"id":1,"v":5}}'
    changed = first.replace(b'"v":"int"', b'"v":"varchar(4)"')
    assert compiled.decode_row(decoder, first, 1).after == {"id": 1, "v": 5}
    assert compiled.decode_row(decoder, changed, 2) is None  # 5 is not a string: the Python path names it
    assert compiled.decode_row(decoder, changed.replace(b'"v":5', b'"v":"x"'), 3).table_info.column("v").type_name == "varchar"
    broken = first.replace(b'"v":"int"', b'"v":"nosuchtype"')
    assert compiled.decode_row(decoder, broken, 4) is None
    with pytest.raises(InvalidEventError, match="nosuchtype"):
        decoder.decode(broken, "f", 4)


#: Texts around the canonical ones of the decimal and date/time types (in
#: range and not, signed, short and long fractions), and the edges of each.
_DATE = r"[0-9]{4}-[01][0-9]-[0-3][0-9]"
_DATETIME = _DATE + r" [0-2][0-9]:[0-6][0-9]:[0-6][0-9]"
_DATETIME_EDGES = ["2024-01-01 23:59:59", "2024-01-01 24:00:00", "2024-01-01 19:60:00", "2024-01-01 00:00:60",
                   "2024-12-31 20:00:00.000", "2024-13-01 00:00:00", "2024-01-32 00:00:00", "2024-1-01 00:00:00"]
_TIME = r"-?[0-9]{2,3}:[0-6][0-9]:[0-6][0-9]"
_TIME_EDGES = ["-00:00:00", "-00:00:00.00", "-00:00:00.01", "00:00:00", "-838:59:59", "838:59:59", "839:00:00",
               "23:59:59.99", "1:00:00", "-24:00:00", "١٢:٠٠:٠٠"]
NEAR_CANONICAL = {
    "decimal(5,2)": (r"-?[0-9]{1,5}(\.[0-9]{0,4})?", ["-0.00", "-0", "0.00", "-0.01", "000.00", "1.", ".5", "-.5", "100.00",
                                                      "999.99", "-999.99", "1000.00", "+1.00", "1e2", "01.00"]),
    "decimal(4,4)": (r"-?[0-9]{1,2}(\.[0-9]{0,5})?", ["0.0000", "-0.0000", "-0.0001", "1.0000", "0.00001", ".1234"]),
    "decimal(3,0) unsigned": (r"-?[0-9]{1,4}(\.[0-9]{0,2})?", ["-0", "0", "-1", "999", "1000", "0.0", "00"]),
    "date": (_DATE, ["2024-12-31", "2024-13-01", "2024-00-00", "2024-01-32", "9999-19-39", "2024-02-30"]),
    "datetime": (_DATETIME + r"(\.[0-9]{0,2})?", _DATETIME_EDGES),
    "timestamp(3)": (_DATETIME + r"(\.[0-9]{0,4})?", _DATETIME_EDGES + ["2024-01-01 00:00:00.123"]),
    "time": (_TIME + r"(\.[0-9]{0,2})?", _TIME_EDGES),
    "time(2)": (_TIME + r"(\.[0-9]{0,3})?", _TIME_EDGES + ["-00:00:00.00", "12:00:00.5", "12:00:00.50"]),
}


#: Numbers around the range of the integer and float types.
_NUMBERS = [0, 1, -1, True, False, 1.0, -0.0, 2.5, 1e300, 2**63 - 1, 2**63, -(2**63), 2**64 - 1, 2**64, 3.4028234663852886e38,
            3.4028235e38, 3.5e38, 1e-50, "1", None]
NEAR_BOUNDS = {
    "tinyint": (-129, 128), "tinyint unsigned": (-1, 256), "smallint": (-(2**15) - 1, 2**15), "int unsigned": (-1, 2**32),
    "mediumint unsigned": (-1, 2**24), "bigint": (-(2**63) - 1, 2**63), "bigint unsigned": (-1, 2**64),
    "bit(3)": (-1, 8), "year": (1899, 2156), "float": (-(2**130), 2**130), "double": (-(2**1030), 2**1030),
    "varchar(3) not null": (-1, 1),
}


@st.composite
def near_canonical_values(draw: st.DrawFn) -> tuple[str, Any]:
    declared = draw(st.sampled_from(sorted(NEAR_CANONICAL) + sorted(NEAR_BOUNDS)))
    if declared in NEAR_BOUNDS:
        low, high = NEAR_BOUNDS[declared]
        edges = st.sampled_from([low, low + 1, high - 1, high, *_NUMBERS])
        return declared, draw(st.integers(low, high) | st.floats(float(max(low, -1e308)), float(min(high, 1e308))) | edges)
    pattern, edges = NEAR_CANONICAL[declared]
    return declared, draw(st.from_regex(pattern, fullmatch=True) | st.sampled_from(edges))


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(near_canonical_values())
def test_values_near_their_bounds_are_checked_as_the_python_path_checks_them(case: tuple[str, Any]) -> None:
    """A number, or a decimal or date/time text, is kept as it is exactly where
    the Python path keeps it (in range; canonical text), converted or refused
    as that path does otherwise; a valid one is always taken (but for an
    integer beyond 64 bits)."""
    declared, text = case
    line = {"kind": "row", "schema": "db", "table": "t", "commit_ts": 2, "op": "insert", "pk": ["id"],
            "columns": {"id": "bigint", "v": declared}, "after": {"id": 1, "v": text}}
    raw = json.dumps(line).encode()
    event = compiled.decode_row(Decoder(), raw, 1)
    expected = _outcome(Decoder(use_compiled=False), raw, 1)
    beyond_64_bits = type(text) is int and not -(2**63) <= text <= 2**64 - 1  # (left to the Python path)
    assert (event is not None) == (expected[0] == "RowEvent" and not beyond_64_bits), (raw, expected)
    if event is not None:
        assert _fields(event) == expected


_BASE = {"kind": "row", "schema": "db", "table": "t", "commit_ts": 9, "op": "update", "pk": ["id"],
         "columns": {"id": "bigint", "v": "varchar(8)"}, "before": {"id": 1, "v": "a"}, "after": {"id": 1, "v": "b"}}
_LINE = json.dumps(_BASE, separators=(",", ":")).encode()


def _with(**fields: Any) -> bytes:
    return json.dumps({**_BASE, **fields}, separators=(",", ":")).encode()


#: Lines of forms the compiled decoder leaves to the Python path (which takes
#: some of them, refuses the rest).
UNUSUAL = [
    _with(schema=""), _with(table=""), _with(schema=1), _with(kind="resolved"), _with(kind="Row"),
    _with(commit_ts=-1), _with(commit_ts=2**63), _with(commit_ts=1.0), _with(commit_ts="9"), _with(commit_time_ms=1.5),
    _with(commit_time_ms=-1), _with(commit_time_ms=2**63), _with(op="upsert"), _with(op=None), _with(pk=None),
    _with(pk=[1]), _with(pk="id"), _with(pk=["id", "id"]), _with(pk=["x"]), _with(columns={}), _with(columns=[]),
    _with(columns={"id": "bigint", "v": 1}), _with(columns={"id": "bigint", "v": "nosuchtype"}), _with(before=None),
    _with(before=[]), _with(after=1), _with(op="insert", before=1), _with(op="delete", after="x"),
    _with(after={"id": 1, "v": 5}), _with(after={"id": None, "v": "b"}),
    _with(columns={"id": "bigint", "v": "varchar(8) NOT NULL"}, after={"id": 1, "v": None}), _with(after={"id": 2**64}), _with(after={"id": 1, "v": "b", "w": 1}),
    _LINE.replace(b'"a"', b"[" * 40 + b"]" * 40),
    _LINE + b"x", _LINE + b"\n{}", b"\xef\xbb\xbf" + _LINE, b"\x0c" + _LINE, _LINE[:-1], _LINE.replace(b"{", b"[", 1),
    b'{"query":"x",' + _LINE[1:], b'{"extra":1,' + _LINE[1:], b'{"op":"insert",' + _LINE[1:], b'{"kind":"row",' + _LINE[1:],
    _LINE.replace(b'"schema"', b'"sch\\u0065ma"'), _LINE.replace(b'"b"', b'"\\ud800"'), _LINE.replace(b'"b"', b'"\\udc00"'),
    _LINE.replace(b'"b"', b'"\\ud800\\u0041"'), _LINE.replace(b'"b"', b'"\\x"'), _LINE.replace(b'"b"', b'"\\u00G0"'),
    _LINE.replace(b'"b"', b'"b\x01"'), _LINE.replace(b'"b"', b'"b\n"'), _LINE.replace(b'"b"', b'"\xff"'),
    _LINE.replace(b'"b"', b'"\xed\xa0\x80"'), _LINE.replace(b'"b"', b'"\xc3"'), _LINE.replace(b'"a"', b"1e400"),
    _LINE.replace(b'"a"', b"NaN"), _LINE.replace(b'"a"', b"01"), _LINE.replace(b'"a"', b"-"), _LINE.replace(b'"a"', b"1."),
    _LINE.replace(b'"a"', b".5"), _LINE.replace(b'"a"', b"tru"), _LINE.replace(b'"a"', b"123456789012345678901234567890"),
    _LINE.replace(b":9,", b":9 ,,"), _LINE.replace(b":9,", b":09,"), _LINE.replace(b"}}", b"},}}", 1), b"", b"{}", b"null",
    "{\"kind\":\"row\",\"schema\":\"\u00e9\"" + _LINE.decode()[14:],
]


@needs_compiled
@pytest.mark.parametrize("raw", UNUSUAL)
def test_unusual_lines_are_left_to_the_python_path(raw: bytes | str) -> None:
    """Lines that are not row lines of the common form are declined; the Python
    path then gives the same event or error as without the compiled decoder."""
    assert compiled.decode_row(Decoder(), raw, 1) is None
    assert _outcome(Decoder(), raw, 1) == _outcome(Decoder(use_compiled=False), raw, 1)
    assert compiled.decode_row(Decoder(), _LINE, 1) is not None  # (the line it was made from is taken)
