"""The compiled canal-json row writer (``_speedups.c``) against the pure-Python
encoder it mirrors: the same bytes for every row and every option, the same
error (type and message) for every row the encoder refuses, and the common
rows written by the compiled code rather than handed back to Python."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdcsink import speedups
from cdcsink.codec.canal_json import encoder as canal_encoder
from cdcsink.codec.canal_json.encoder import CanalJsonEncoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import KNOWN_TYPES, NULL, STRING, VARSTRING, Column, TableSchema, table_schema
from cdcsink.decode import Decoder
from cdcsink.events import DELETE, INSERT, UPDATE, RowEvent
from tests.unit.codec.strategies import DECLARED_TYPES, value_strategy
from tests.workload import generate

CLOCK_MS = 1_700_000_000_123
#: Declarations beyond the shared list: geometry, a binary varchar in object form,
#: a NOT NULL text column.
DECLARATIONS: tuple[Any, ...] = (
    *DECLARED_TYPES, "geometry", "point", {"type": "varchar(16)", "charset": "binary"}, "varchar(8) NOT NULL",
)
#: Type codes no declaration parses to (they come from decoded open-protocol
#: messages): each replaces the type of a drawn text column.
DECODED_ONLY = (NULL, VARSTRING)

#: Text that takes every branch of Go's escaping.
_SPECIAL = st.sampled_from(
    list("<>&\u2028\u2029\x00\x01\x08\x0c\x1f\x7f\"\\\n\r\t\ud800\udfff\udbff\udc00é\xff€\U0001f600 a")
)
_texts = st.one_of(st.just(""), st.lists(st.one_of(_SPECIAL, st.characters()), max_size=24).map("".join))
_names = st.one_of(
    st.sampled_from(["a", "<b&c>", "é", "line\u2028", "q\"uote", "ctl\x01", "sur\ud800", "空"]),
    st.lists(st.one_of(_SPECIAL, st.characters()), min_size=1, max_size=6).map("".join),
)
#: Values no column takes in its canonical form (each refused, as the Python encoder refuses it).
_wrong = st.sampled_from(
    [1.5, "7", b"x", bytearray(b"y"), True, 3, [], {}, memoryview(b"z"), 2**70, float("nan"), 1e300, object()]
)


def _table(draw: st.DrawFn) -> TableSchema:
    declarations = draw(st.lists(st.sampled_from(DECLARATIONS), min_size=1, max_size=6))
    names = draw(st.lists(_names.filter(lambda name: name != "id"), min_size=len(declarations),
                          max_size=len(declarations), unique=True))
    pk = draw(st.sampled_from([["id"], [], ["id", names[0]]]))
    info = table_schema("d<b>\u2028", draw(st.sampled_from(["t", "t&\x01"])), {"id": "bigint", **dict(zip(names, declarations))}, pk)
    columns = list(info.columns)
    for index, column in enumerate(columns):
        if column.tp in (STRING,) and not column.binary and draw(st.booleans()):
            code = draw(st.sampled_from(DECODED_ONLY))
            columns[index] = dataclasses.replace(column, tp=code, type_name="var_string" if code == VARSTRING else "null")
    columns_tuple = tuple(columns)
    return TableSchema(info.schema, info.table, columns_tuple, info.pk, {column.name: column for column in columns_tuple})


def _value(draw: st.DrawFn, column: Column) -> Any:
    choice = draw(st.integers(0, 39))
    if choice == 0:
        return draw(_wrong)
    if choice < 3:
        return None
    if choice < 20:  # each kind's edges
        if column.type_name in ("float", "double"):
            return draw(st.sampled_from([1e300, -0.0, float("inf"), float("nan"), 3, 0.1, -1e-7]))
        if column.tp in _INTEGER_TYPES:
            return draw(st.integers() | st.sampled_from([-(2**64), 2**63 - 1, 2**63, 2**64 - 1, 2**64 + 5, 2**31, 128]))
        if column.binary:
            return draw(st.binary(max_size=16))
        if column.type_name not in ("decimal", "date", "datetime", "timestamp", "time", "json"):
            return draw(_texts)
    return draw(value_strategy(dataclasses.replace(column, nullable=False)))


_INTEGER_TYPES = frozenset((1, 2, 3, 8, 9, 13, 16, 247, 248))


def _image(draw: st.DrawFn, info: TableSchema) -> dict[str, Any] | None:
    if draw(st.integers(0, 30)) == 0:
        return None
    image = {}
    for column in info.columns:
        if draw(st.integers(0, 12)) == 0:
            continue  # a missing column: left out
        image[column.name] = _value(draw, column)
    if draw(st.integers(0, 15)) == 0:
        image["undeclared"] = "x"
    return image


@st.composite
def cases(draw: st.DrawFn) -> tuple[EncoderOptions, list[RowEvent]]:
    info = _table(draw)
    options = EncoderOptions(
        "canal-json",
        enable_tidb_extension=draw(st.booleans()),
        max_message_bytes=draw(st.sampled_from([1 << 20, 1 << 20, 600, 330])),
        large_message_handle_option=draw(st.sampled_from(["none", "handle-key-only", "claim-check"])),
        large_message_handle_compression=draw(st.sampled_from(["none", "none", "lz4", "snappy", "zstd"])),
        claim_check_storage_uri="file:///nonexistent/claims",
        only_output_updated_columns=draw(st.booleans()),
        delete_only_output_handle_key_columns=draw(st.booleans()),
        content_compatible=draw(st.booleans()),
        clock_ms=lambda: CLOCK_MS,
    )
    declared = {column.name: column.declared for column in info.columns}
    events = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from([INSERT, UPDATE, DELETE]))
        before = _image(draw, info) if op != INSERT else None
        after = _image(draw, info) if op != DELETE else None
        if op == UPDATE and before is not None and after is not None and draw(st.booleans()):
            after = {**before, **dict(list(after.items())[: draw(st.integers(0, 2))])}  # mostly unchanged
            if draw(st.booleans()):  # lone surrogates: the same U+FFFD, not the same string
                after = {name: _other_surrogates(value) if type(value) is str else value for name, value in after.items()}
        commit_ts = draw(st.one_of(st.integers(0, 2**64 - 1), st.just(417318403368288260)))
        commit_ms = draw(st.one_of(st.none(), st.integers(-1, 2**63)))
        events.append(RowEvent(info.schema, info.table, commit_ts, op, list(info.pk), declared, before, after, commit_ms, 0, info))
    return options, events


def _other_surrogates(text: str) -> str:
    return _SURROGATE.sub(lambda found: "\udc00" if found.group() != "\udc00" else "\ud800", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Claims:
    """A claim-check store with one fixed location (the real one names files by uuid)."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def put(self, key: bytes | None, value: bytes) -> str:
        self.values.append(value)
        return "file:///claims/fixed.json"


def _outcome(encoder: CanalJsonEncoder, event: RowEvent) -> Any:
    try:
        return encoder.encode_row(event)
    except Exception as error:  # the same error, type and message, is the assertion
        return type(error), str(error)


def _encoders(options: EncoderOptions) -> tuple[CanalJsonEncoder, CanalJsonEncoder]:
    compiled, pure = CanalJsonEncoder(options), CanalJsonEncoder(options, use_compiled=False)
    if options.large_message_handle_option == "claim-check":
        compiled._claims, pure._claims = _Claims(), _Claims()  # type: ignore[assignment]
    return compiled, pure


needs_compiled = pytest.mark.skipif(speedups.disabled(), reason="CDCSINK_NO_EXTENSIONS is set: no compiled code to compare")


def test_canal_json_compiled_in_use():
    """The compiled writer is loaded wherever the build made it (``make test``
    requires it where a C compiler is); only CDCSINK_NO_EXTENSIONS turns it off."""
    encoder = CanalJsonEncoder(EncoderOptions("canal-json"))
    event = RowEvent("d", "t", 1, INSERT, ["id"], {"id": "bigint"}, None, {"id": 1})
    if speedups.disabled():
        assert canal_encoder._compiled is None
        assert encoder._shape(event).writer is None
    else:
        assert canal_encoder._compiled is not None, "cdcsink/codec/canal_json/_speedups.c is not built"
        assert isinstance(encoder.encode_row.__self__, canal_encoder._compiled.RowEncoder)
        assert encoder._shape(event).writer is not None


def test_every_known_type_is_drawn():
    declared = {table_schema("d", "t", {"c": declaration}, []).columns[0].tp for declaration in DECLARATIONS}
    assert declared | set(DECODED_ONLY) == KNOWN_TYPES


@needs_compiled
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_compiled_rows_are_the_python_rows(case: tuple[EncoderOptions, list[RowEvent]]):
    options, events = case
    compiled, pure = _encoders(options)
    for event in events:
        assert _outcome(compiled, event) == _outcome(pure, event)
    if options.large_message_handle_option == "claim-check":
        assert compiled._claims.values == pure._claims.values  # type: ignore[union-attr]


def _bench_rows(count: int) -> list[RowEvent]:
    decoder = Decoder()
    events = (decoder.decode(line, "f", n) for n, line in enumerate(generate(count, tables=20, keys=50).lines))
    return [event for event in events if type(event) is RowEvent]


class _CountingFallbacks(CanalJsonEncoder):
    """An encoder that counts the rows its compiled encode_row hands to Python."""

    fallbacks = 0

    def _encode_row_py(self, event: RowEvent) -> Any:
        self.fallbacks += 1
        return super()._encode_row_py(event)


@needs_compiled
@pytest.mark.parametrize("extension", [True, False])
def test_the_bench_rows_are_written_by_the_compiled_code(extension: bool):
    options = EncoderOptions("canal-json", enable_tidb_extension=extension, clock_ms=lambda: CLOCK_MS)
    compiled, pure = _CountingFallbacks(options), CanalJsonEncoder(options, use_compiled=False)
    rows = _bench_rows(2000)
    assert {row.op for row in rows} == {INSERT, UPDATE, DELETE}
    assert [compiled.encode_row(event) for event in rows] == [pure.encode_row(event) for event in rows]
    assert compiled.fallbacks == 0


@needs_compiled
def test_the_compiled_code_reads_the_wall_clock_as_the_default_clock_does():
    encoder = _CountingFallbacks(EncoderOptions("canal-json"))
    event = RowEvent("d", "t", 1, INSERT, ["id"], {"id": "bigint"}, None, {"id": 1})
    start = int(time.time() * 1000)
    value = encoder.encode_row(event)[1]
    end = int(time.time() * 1000)
    assert encoder.fallbacks == 0
    assert start <= orjson.loads(value)["ts"] <= end


class _OtherEvent(RowEvent):
    __slots__ = ("extra",)


@needs_compiled
def test_events_of_another_class_and_unset_fields_are_read_as_python_reads_them():
    compiled, pure = _encoders(EncoderOptions("canal-json", clock_ms=lambda: CLOCK_MS))
    args = ("d", "t", 1, UPDATE, ["id"], {"id": "bigint", "v": "text"}, {"id": 1, "v": "a"}, {"id": 1, "v": "b"})
    for event in (RowEvent(*args), _OtherEvent(*args)):
        assert compiled._shape(event).writer.encode(event) is not None  # type: ignore[misc]
        assert compiled.encode_row(event) == pure.encode_row(event)
    unset = RowEvent(*args)
    del unset.commit_time_ms
    assert compiled._shape(unset).writer.encode(unset) is None  # type: ignore[misc]
    assert _outcome(compiled, unset) == _outcome(pure, unset) == (AttributeError, "'RowEvent' object has no attribute 'commit_time_ms'")


COMMON = {
    "id": "bigint", "n": "int unsigned", "price": "decimal(10,2)", "note": "varchar(64)", "day": "date",
    "at": "datetime(6)", "doc": "json", "raw": "varbinary(16)", "flag": "bool", "kind": "enum('a','b')", "gone": "text",
}


@needs_compiled
@pytest.mark.parametrize(
    "options",
    [{}, {"only_output_updated_columns": True}, {"content_compatible": True},
     {"delete_only_output_handle_key_columns": True}, {"large_message_handle_compression": "zstd"}],
)
def test_the_common_forms_are_written_by_the_compiled_code(options: dict[str, Any]):
    """Plain and escaped strings, ints, bools, decimals and dates as text, bytes
    and nulls, each op: written by the compiled code, as Python writes them."""
    enc_options = EncoderOptions("canal-json", enable_tidb_extension=True, clock_ms=lambda: CLOCK_MS, **options)
    compiled, pure = _encoders(enc_options)
    before = {"id": 7, "n": 4294967295, "price": "-9.90", "note": "a<b>&\"c\"\n\u2028é\x01", "day": "2024-02-29",
              "at": "2024-02-29 23:59:59.000001", "doc": '{"a": [1, "x"]}', "raw": b"\x00\xff<", "flag": True,
              "kind": 2, "gone": None}
    after = {**before, "n": 1, "note": "", "flag": False}
    for op, old, new in ((INSERT, None, after), (UPDATE, before, after), (DELETE, before, None)):
        event = RowEvent("shop", "orders", 417318403368288260, op, ["id"], COMMON, old, new)
        value = compiled._shape(event).writer.encode(event)  # type: ignore[misc]
        assert value is not None, f"declined: {event!r}"
        assert (None, value) == pure.encode_row(event)


@needs_compiled
def test_a_mistyped_value_is_left_to_the_python_error():
    compiled, pure = _encoders(EncoderOptions("canal-json", clock_ms=lambda: CLOCK_MS))
    event = RowEvent("shop", "orders", 1, INSERT, ["id"], {"id": "bigint", "note": "text"}, None, {"id": 1, "note": 5})
    assert compiled._shape(event).writer.encode(event) is None  # type: ignore[misc]
    assert _outcome(compiled, event) == _outcome(pure, event)
    assert _outcome(pure, event)[1].endswith("column 'note' (text): expected a string, got int 5")


@needs_compiled
@pytest.mark.parametrize("options", [{"only_output_updated_columns": True}, {"content_compatible": True}])
def test_changed_only_tells_apart_strings_that_differ_in_a_lone_surrogate(options: dict[str, Any]):
    """Both strings are written with U+FFFD, yet they differ: the old image keeps the column."""
    compiled, pure = _encoders(EncoderOptions("canal-json", clock_ms=lambda: CLOCK_MS, **options))
    columns = {"id": "bigint", "note": "text", "same": "text"}
    event = RowEvent("d", "t", 1, UPDATE, ["id"], columns, {"id": 1, "note": "a\ud800", "same": "\udfff"},
                     {"id": 1, "note": "a\udfff", "same": "\udfff"})
    expected = pure.encode_row(event)
    assert b'"old":[{"note":"a\xef\xbf\xbd"}]' in expected[1]
    assert compiled.encode_row(event) == expected
