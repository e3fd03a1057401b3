"""The compiled open-protocol row writer (``_speedups.c``) against its pure-Python
reference: the same key, value and packed bytes for every row, table and
option, or the same error (type and message).

The pure-Python encoder is ``OpenProtocolEncoder(options, use_compiled=False)``;
the compiled one hands the rows it does not take (wrong-typed values, lone
surrogates, oversized rows, ...) to the same Python code, so the tests also
check that the common rows are taken (``try_encode_row`` is not None), which
the fallback would otherwise hide.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdcsink import speedups
from cdcsink.codec.open_protocol import encoder as encoder_module
from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, INTEGERS, JSON, KNOWN_TYPES, NEWDECIMAL, SET, TIMESTAMP,
    YEAR, TableSchema, table_schema,
)
from cdcsink.decode import Decoder
from cdcsink.events import DELETE, INSERT, UPDATE, RowEvent
from tests.unit.codec.strategies import DECLARED_TYPES, value_strategy
from tests.workload import generate

compiled = encoder_module._speedups
#: Skipped only where CDCSINK_NO_EXTENSIONS asks for pure Python (nothing to compare
#: with); a build without the module fails test_open_protocol_compiled_in_use and these.
needs_compiled = pytest.mark.skipif(speedups.disabled(), reason="CDCSINK_NO_EXTENSIONS is set: pure Python only")

#: Declarations covering every type code of KNOWN_TYPES the input can declare.
TYPES = DECLARED_TYPES + ("geometry", "point", "char(1) binary", "varchar(10) charset binary", "tinyint(1)")

_SPECIAL = ["<", ">", "&", "\u2028", "\u2029", "\x00", "\x01", "\x08", "\x0c", "\t", "\n", "\r", "\x1f", "\x7f",
            '"', "\\", "b", "f", "é", "中", "\U0001f600", " "]
_LONE = ["\ud800", "\udbff", "\udc00", "\udfff"]
nasty_text = st.lists(st.sampled_from(_SPECIAL) | st.characters() | st.sampled_from(_LONE), max_size=10).map("".join)
plain_text = st.lists(st.sampled_from(_SPECIAL) | st.characters(codec="utf-8"), max_size=10).map("".join)
nasty_bytes = st.binary(max_size=16) | st.lists(st.integers(0x20, 0x7F), max_size=6).map(bytes) | st.sampled_from(
    [b"", b"plain", b'"q"', b"\\", b"\x00\x08\x0c\x7f", "é中".encode(), b"\xff\xfe", b"\xed\xa0\x80", b"\x7f", b"a\x7fb", b"~ }"]
)


class IntSubclass(int):
    pass


class StrSubclass(str):
    pass


WRONG = [True, False, 1, -1, 0, 1.5, -0.0, float("nan"), float("inf"), float("-inf"), 1e16, 1e-5, 5e-324, "x", "",
         b"x", b"", bytearray(b"x"), [], {}, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, IntSubclass(3),
         StrSubclass("s")]


NAN = float("nan")
#: Values at the edges of what the writer takes: 64-bit limits, floats JSON cannot
#: carry or that change form (exponent, "-0"), decimals equal by number only.
EDGES = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64), NAN, NAN, float("inf"), -0.0, 0.0,
         1e16, 1e16 - 2, 1e-4, 9.999e-5, 0.1, 5e-324, 3.4028235e38, 1e300, 1.5, "1.0", "1.00", "-0", "0.000", "9.90"]


@st.composite
def names(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["id", "a", "", "Ünï", "a\u2028b"]) | plain_text | nasty_text)


@st.composite
def tables(draw: st.DrawFn) -> TableSchema:
    count = draw(st.integers(1, 6))
    columns: dict[str, Any] = {}
    for _ in range(count):
        columns[draw(names())] = draw(st.sampled_from(TYPES))
    pk = draw(st.lists(st.sampled_from(sorted(columns)), max_size=2, unique=True))
    schema = draw(st.sampled_from(["db", "<s&>"]) | names())
    table = draw(st.sampled_from(["t", "t\u2029"]) | names())
    try:
        return table_schema(schema, table, columns, pk)
    except ValueError:
        return table_schema(schema, table, {"id": "int"}, ["id"])


def value(draw: st.DrawFn, column: Any, clean: bool, text: Any = nasty_text) -> Any:
    """A value for the column: ``clean``, one of its type (valid, at an edge, NULL)
    so that the whole row can be written; else anything, wrong types included."""
    if clean:
        try:
            expected = encoder_module._conversion(column)[0]
        except ValueError:
            expected = object
        edges = [edge for edge in EDGES if type(edge) is expected]
        choice = draw(st.integers(0, 5))
        if choice == 4 and edges:
            return draw(st.sampled_from(edges))
        if choice == 5:
            return {str: draw(text), bytes: draw(nasty_bytes)}.get(expected)
        return draw(value_strategy(column))
    choice = draw(st.integers(0, 9))
    if choice < 5:
        return draw(value_strategy(column))
    if choice == 5:
        return draw(st.sampled_from(WRONG))
    if choice == 6:
        return draw(nasty_text)
    if choice == 7:
        return draw(nasty_bytes)
    if choice == 8:
        return None
    return draw(st.sampled_from(EDGES) | st.floats())


def image(
    draw: st.DrawFn, table: TableSchema, like: dict[str, Any] | None = None, clean: bool | None = None
) -> dict[str, Any]:
    """An image of the table; ``clean`` (else drawn): no wrong types, no unknown
    columns, no lone surrogates."""
    out = {}
    text = plain_text if clean else nasty_text
    if clean is None:
        clean = draw(st.integers(0, 3)) > 0
    for column in table.columns:
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing column
        if like is not None and column.name in like and draw(st.booleans()):
            out[column.name] = like[column.name]  # unchanged by the update
        else:
            out[column.name] = value(draw, column, clean, text)
    if not clean and draw(st.booleans()):
        out[draw(names())] = 1  # perhaps a column the table does not have
    return out


@st.composite
def events(draw: st.DrawFn, table: TableSchema, clean: bool | None = None) -> RowEvent:
    op = draw(st.sampled_from((INSERT, UPDATE, DELETE)))
    before = image(draw, table, None, clean) if op != INSERT else None
    after = image(draw, table, before, clean) if op != DELETE else None
    declared = {column.name: column.declared for column in table.columns}
    commit_ts = draw(st.integers(0, 2**63 - 1) | st.sampled_from([2**63, 2**64 - 1] if clean else [2**63, 2**64 + 1, -1]))
    info = table if draw(st.integers(0, 4)) else None  # None: the event parses its columns on first use
    return RowEvent(table.schema, table.table, commit_ts, op, list(table.pk), declared, before, after, None, 3, info)


options_strategy = st.fixed_dictionaries(
    {
        "enable_tidb_extension": st.booleans(),
        "only_output_updated_columns": st.booleans(),
        "delete_only_output_handle_key_columns": st.booleans(),
        "large_message_handle_compression": st.sampled_from(("none", "none", "lz4", "snappy", "zstd")),
        "large_message_handle_option": st.sampled_from(("none", "handle-key-only")),
        "max_message_bytes": st.sampled_from((10 * 1024 * 1024, 10 * 1024 * 1024, 400, 250, 150)),
        "max_batch_size": st.integers(1, 5),
    }
)


def outcome(call: Any, *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", call(*args))
    except Exception as error:  # the same error, type and message, is what must match
        return ("error", type(error), str(error))


def encoders(options: dict[str, Any]) -> tuple[OpenProtocolEncoder, OpenProtocolEncoder]:
    opts = EncoderOptions("open-protocol", **options)
    return OpenProtocolEncoder(opts), OpenProtocolEncoder(opts, use_compiled=False)


def test_open_protocol_compiled_in_use() -> None:
    """Where extensions are not disabled, the compiled writer is built and used
    (a C file that stops compiling fails here instead of falling back unseen)."""
    if speedups.disabled():
        assert compiled is None
        assert OpenProtocolEncoder(EncoderOptions("open-protocol")).encode_row.__func__ is (  # type: ignore[attr-defined]
            OpenProtocolEncoder._encode_row_py
        )
        return
    assert compiled is not None, "cdcsink.codec.open_protocol._speedups is not built"
    encoder = OpenProtocolEncoder(EncoderOptions("open-protocol"))
    assert type(encoder.encode_row).__name__ == "builtin_function_or_method"
    assert encoder._pack_compiled is compiled.pack
    assert os.environ.get("CDCSINK_NO_EXTENSIONS") in (None, "", "0", "false", "no", "off")


@needs_compiled
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), options=options_strategy)
def test_rows_and_messages_are_the_pure_python_bytes(data: st.DataObject, options: dict[str, Any]) -> None:
    fast, pure = encoders(options)
    rows = []
    for _ in range(data.draw(st.integers(1, 3))):
        table = data.draw(tables())
        rows += data.draw(st.lists(events(table), min_size=1, max_size=3))
    results = []
    for event in rows:
        expected = outcome(pure.encode_row, event)
        assert outcome(fast.encode_row, event) == expected
        taken = outcome(fast._writer.try_encode_row, event)
        assert taken == ("ok", None) or taken == expected
        results.append(expected)
    assert outcome(fast.encode_rows, rows) == outcome(pure.encode_rows, rows)
    entries = [result[1] for result in results if result[0] == "ok"]
    assert fast.pack(entries) == pure.pack(entries)


ALL_TYPES = table_schema(
    "db", "all", {"id": "bigint", **{f"c{i}": declared for i, declared in enumerate(TYPES) if declared not in ("geometry", "point")}},
    ["id"],
)


@needs_compiled
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), options=options_strategy)
def test_every_type_in_one_row_is_taken(data: st.DataObject, options: dict[str, Any]) -> None:
    """Rows with a column of every type and values of their types (edges included):
    each is written by the compiled code (unless a value cannot be written at all)
    with the pure-Python bytes."""
    fast, pure = encoders({**options, "max_message_bytes": 10 * 1024 * 1024})
    for event in data.draw(st.lists(events(ALL_TYPES, clean=True), min_size=1, max_size=3)):
        expected = outcome(pure.encode_row, event)
        taken = outcome(fast._writer.try_encode_row, event)
        if expected[0] == "ok":
            assert taken == expected
        else:  # NaN, ±Inf, a float32 out of range: the Python code's error
            assert taken == ("ok", None)
            assert outcome(fast.encode_row, event) == expected


@needs_compiled
@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=60)), max_size=12),
    limit=st.integers(0, 400),
    batch=st.integers(-1, 6),
)
def test_pack_frames_as_the_pure_python_code(entries: list[tuple[bytes, bytes]], limit: int, batch: int) -> None:
    fast, pure = encoders({"max_message_bytes": limit, "max_batch_size": batch})
    expected = pure.pack(entries)
    assert compiled.pack(entries, limit, batch, 44) == expected
    assert fast.pack(entries) == expected
    as_lists = [list(entry) for entry in entries]  # not (bytes, bytes) tuples: the Python code frames them
    assert compiled.pack(as_lists, limit, batch, 44) in (None, [])
    assert fast.pack(as_lists) == expected


def _bench_rows(count: int) -> list[RowEvent]:
    decoder = Decoder()
    decoded = (decoder.decode(line, "f", i) for i, line in enumerate(generate(count, tables=5, keys=50).lines))
    return [event for event in decoded if type(event) is RowEvent]


@needs_compiled
@pytest.mark.parametrize("option", [{}, {"only_output_updated_columns": True}, {"delete_only_output_handle_key_columns": True},
                                    {"large_message_handle_compression": "lz4"}])
def test_bench_rows_take_the_compiled_path(option: dict[str, Any]) -> None:
    fast, pure = encoders({"enable_tidb_extension": True, **option})
    rows = _bench_rows(600)
    assert {event.op for event in rows} == {INSERT, UPDATE, DELETE}
    for event in rows:
        assert fast._writer.try_encode_row(event) == pure.encode_row(event)
    assert fast.encode_rows(rows) == pure.encode_rows(rows)


def _canonical(column: Any) -> Any:
    """A common value of the column's type (with escapes and non-ASCII where it is text)."""
    tp = column.tp
    if tp in INTEGERS or tp in (YEAR, BIT, ENUM, SET):
        return -(2**63) if column.type_name == "bigint" else 5
    if tp == FLOAT:
        return 0.1
    if tp == DOUBLE:
        return 1e21  # the conversion callable's digits
    if tp == NEWDECIMAL:
        return "-9.90"
    if tp in (DATE, DATETIME, TIMESTAMP, DURATION, JSON):
        return {DATE: "2024-02-29", DURATION: "-838:59:59", JSON: '{"a": "<&>"}'}.get(tp, "2024-02-29 23:59:59")
    if column.binary:
        if tp in CHARS:  # strconv.Quote's text: the bytes themselves, or escapes (\x7f is not printable)
            return b"plain ok" if column.declared.startswith("binary") else b'ok"\\\x7f\xff'
        return b"\x00\xff"
    return 'a<b>&"\\\u2028\u2029\x08\x0c\x01\x7fé中' if tp in CHARS else "tëxt\n"


@needs_compiled
def test_common_values_of_every_type_are_taken() -> None:
    """Canonical values of every declared type (escapes, non-ASCII, NULLs, missing
    columns, 64-bit ints, floats) are written by the compiled code, not declined."""
    columns = {f"c{i}": declared for i, declared in enumerate(TYPES) if declared not in ("geometry", "point")}
    columns["id"] = "bigint unsigned"
    table = table_schema("db", "all<&>\u2028", columns, ["id"])
    assert {column.tp for column in table.columns} <= KNOWN_TYPES
    fast, pure = encoders({})
    after: dict[str, Any] = {"id": 2**64 - 1}
    for column in table.columns[:-1]:
        after[column.name] = _canonical(column)
    after.pop("c1")  # a missing column
    for op, before, image in ((INSERT, None, after), (UPDATE, after, after), (DELETE, after, None)):
        event = RowEvent("db", table.table, 2**63 - 1, op, ["id"], {}, before, image, None, 0, table)
        taken = fast._writer.try_encode_row(event)
        assert taken is not None, op
        assert taken == pure.encode_row(event)
    typed = RowEvent("db", table.table, 1, INSERT, ["id"], {}, None, {**after, "c0": "not an int"}, None, 0, table)
    assert fast._writer.try_encode_row(typed) is None  # a wrong type: the Python code raises its error


@needs_compiled
def test_only_updated_columns_compare_as_the_python_code() -> None:
    """only-output-updated-columns: decimals compare by number (text that is no
    number differs), NULL <-> value changes are kept, a NaN is refused."""
    table = table_schema("db", "t", {"id": "int", "d": "decimal(10,2)", "f": "double", "n": "int", "s": "varchar(8)"}, ["id"])
    fast, pure = encoders({"only_output_updated_columns": True})
    cases = [
        ({"id": 1, "d": "1.0", "f": 1.5, "n": None, "s": "a"}, {"id": 1, "d": "1.00", "f": 1.5, "n": None, "s": "a"}),
        ({"id": 1, "d": "1.0", "f": 1.5, "n": 5, "s": "a"}, {"id": 1, "d": "2.0", "f": 2.5, "n": None, "s": "b"}),
        ({"id": 1, "d": None, "n": None}, {"id": 1, "d": "3.10", "n": 7, "s": "x"}),
        ({"id": 1, "d": "x", "f": NAN}, {"id": 1, "d": "y", "f": NAN}),
    ]
    for before, after in cases:
        event = RowEvent("db", "t", 7, UPDATE, ["id"], {}, before, after, None, 0, table)
        expected = outcome(pure.encode_row, event)
        assert outcome(fast.encode_row, event) == expected
        taken = outcome(fast._writer.try_encode_row, event)
        assert taken == (expected if expected[0] == "ok" else ("ok", None))
    assert expected[0] == "error"  # the NaN was written, and refused
