"""The compiled index-value and columns hash (cdcsink/route/_speedups.c) against
its pure-Python reference (cdcsink/route/partition.py): the same partition, or
the same exception, for every event and every n.
"""

from __future__ import annotations

import enum
import zlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.events import RowEvent
from cdcsink.route import partition as partition_module
from cdcsink.route.partition import build_partitioner, table_hash, value_text
from cdcsink.speedups import disabled

compiled = partition_module._speedups
#: Skipped only where CDCSINK_NO_EXTENSIONS asks for pure Python; a module that was
#: not built fails test_route_compiled_in_use (and these) instead.
needs_compiled = pytest.mark.skipif(disabled(), reason="CDCSINK_NO_EXTENSIONS=1: the pure-Python partitioners only")


def test_route_compiled_in_use():
    # make test builds the extensions: one that stops compiling must fail here, not fall back unseen.
    if disabled():
        assert compiled is None
        assert type(build_partitioner("index-value", "s", "t")).__name__ == "function"
        assert type(build_partitioner("columns", "s", "t", ["a"])).__name__ == "function"
    else:
        assert compiled is not None, "cdcsink.route._speedups is not built"
        assert type(build_partitioner("index-value", "s", "t")).__name__ == "IndexValuePartitioner"
        assert type(build_partitioner("columns", "s", "t", ["a"])).__name__ == "ColumnsPartitioner"


class Label(str):
    def __str__(self) -> str:
        return "label:" + self


class Level(enum.IntEnum):
    LOW = 1


class ImageDict(dict):
    def get(self, key: Any, default: Any = None) -> Any:
        return "via-get:" + str(super().get(key, default))


class Opaque:
    def __str__(self) -> str:
        return "opaque"


LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc80"])
TEXTS = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("aé€😀\x00\n\"\\<>&\u2028\u2029"), max_size=20),
    LONE_SURROGATES,
)
INTS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.just(10**5000),  # beyond int -> str's digit limit: value_text's ValueError
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
VALUES = st.one_of(
    TEXTS,
    INTS,
    st.booleans(),
    st.none(),
    st.binary(max_size=30),
    st.floats(),
    JSONISH,
    st.decimals(allow_nan=False, places=3),
    st.builds(Label, st.text(max_size=5)),
    st.just(Level.LOW),
    st.builds(bytearray, st.binary(max_size=5)),
    st.just(Opaque()),
)
NAMES = st.one_of(st.sampled_from(["id", "ID", "Id", "region", "k", "名前", "a b"]), TEXTS)


@st.composite
def events(draw: Any, names: st.SearchStrategy = NAMES) -> RowEvent:
    columns = draw(st.lists(names, max_size=5, unique=True))
    pk_pool = columns + draw(st.lists(names, max_size=2))  # a key missing from the image: NULL
    pk: Any = draw(st.lists(st.sampled_from(pk_pool), max_size=4, unique=True)) if pk_pool else []
    if draw(st.integers(0, 30)) == 0:
        pk = draw(st.sampled_from([tuple(pk), [1, "id"], "id", None]))
    image = {name: draw(VALUES) for name in columns if draw(st.integers(0, 9))}
    odd_image = draw(st.integers(0, 40))
    if odd_image == 0:
        image = ImageDict(image)  # not an exact dict: the reference's own .get
    elif odd_image == 1:
        image = list(image)  # not a mapping at all: the reference's AttributeError
    op = draw(st.sampled_from(["insert", "update", "delete"]))
    before, after = (image, None) if op == "delete" else (None, image)
    if op == "update":
        before = {name: draw(VALUES) for name in columns}
    if draw(st.integers(0, 40)) == 0:
        before = after = None
    declared: Any = {name: "varchar(8)" for name in columns}
    return RowEvent(draw(TEXTS), draw(TEXTS), draw(st.integers(0, 2**64)), op, pk, declared, before, after)


def outcome(partition: Any, event: Any, n: Any) -> Any:
    try:
        return ("ok", partition(event, n))
    except Exception as error:  # the same exception type and message, or the same result
        return ("raised", type(error), str(error))


SAFE_TEXT = st.text(max_size=12)  # schema and table: hashed once, in Python, by both
N = st.integers(1, 1000)


@needs_compiled
@settings(max_examples=400, deadline=None)
@given(schema=SAFE_TEXT, table=SAFE_TEXT, event=events(), n=N)
def test_index_value_compiled_equals_pure(schema, table, event, n):
    pure = build_partitioner("index-value", schema, table, use_compiled=False)
    fast = build_partitioner("index-value", schema, table)
    assert type(fast) is compiled.IndexValuePartitioner
    assert outcome(fast, event, n) == outcome(pure, event, n)


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(
    schema=SAFE_TEXT,
    table=SAFE_TEXT,
    configured=st.lists(st.sampled_from(["id", "ID", "region", "Region", "k", "名前", "nope"]), min_size=1, max_size=3),
    stream=st.lists(events(st.sampled_from(["id", "Id", "region", "REGION", "k", "名前", "x"])), min_size=1, max_size=6),
    n=N,
)
def test_columns_compiled_equals_pure_over_a_stream_of_events(schema, table, configured, stream, n):
    # One partitioner each, fed the same events in turn: the columns are resolved on
    # first use and again after the table changes, in both.
    pure = build_partitioner("columns", schema, table, configured, use_compiled=False)
    fast = build_partitioner("columns", schema, table, configured)
    assert type(fast) is compiled.ColumnsPartitioner
    for event in stream:
        assert outcome(fast, event, n) == outcome(pure, event, n)


@needs_compiled
@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["default", "table", "index-value", "ts", "columns"]),
    event=events(st.sampled_from(["id", "k"])),
    n=st.one_of(N, st.sampled_from([0, -1, -7, 2**64, 2**70, 3.0, True, "3", None])),
)
def test_every_kind_and_odd_n_and_odd_calls(kind, event, n):
    columns = ["k"] if kind == "columns" else None
    pure = build_partitioner(kind, "s", "t", columns, use_compiled=False)
    fast = build_partitioner(kind, "s", "t", columns)
    assert outcome(fast, event, n) == outcome(pure, event, n)
    assert outcome(fast, None, n) == outcome(pure, None, n)
    for call in (lambda p: p(event), lambda p: p(event, n, 1), lambda p: p(event, n=n)):
        assert outcome(lambda e, m: call(fast), None, None) == outcome(lambda e, m: call(pure), None, None)


TICDC_VECTORS = [
    ("t1", {"a": 11, "b": 12}, ["a"], 2),
    ("t1", {"a": 22, "b": 22}, ["a"], 11),
    ("t2", {"a": 11, "b": 22}, ["b", "a"], 5),
    ("t2", {"a": 11, "b": 0}, ["a", "b"], 14),
]


@pytest.mark.parametrize("use_compiled", [True, False])
@pytest.mark.parametrize("table, values, pk, expected", TICDC_VECTORS)
def test_ticdc_vectors_both_ways(use_compiled, table, values, pk, expected):
    event = RowEvent("test", table, 1, "insert", pk, {k: "int" for k in values}, None, values)
    assert build_partitioner("index-value", "test", table, use_compiled=use_compiled)(event, 16) == expected
    columns_event = RowEvent("test", "t1", 1, "insert", [], {"col1": "int", "col2": "int"}, None, {"col1": 22, "col2": 11})
    assert build_partitioner("columns", "test", "t1", ["col2", "col1"], use_compiled=use_compiled)(columns_event, 16) == 15


def refuse(event: Any, n: Any) -> int:
    raise AssertionError("the compiled hash declined a common value")


@needs_compiled
@pytest.mark.parametrize(
    "value",
    ["abc-1", "", "héllo wörld €😀", "9.99", "2024-01-02 03:04:05", 0, 42, -(2**63), 2**63 - 1, None, True, False,
     b"\x00\xffa", 2**80, 1.5, {"a": [1]}],
)
def test_common_values_are_taken_not_declined(value):
    # Built with a fallback that refuses: each of these is hashed in C (ints beyond
    # int64, floats and JSON through value_text), never handed back to the reference.
    seed = table_hash("shop", "orders")
    event = RowEvent("shop", "orders", 1, "update", ["id", "k"], {"id": "int", "k": "int"}, {"id": 0}, {"id": value, "k": 7})
    expected = (seed ^ zlib.crc32(b"id" + value_text(value)) ^ zlib.crc32(b"k7")) % 1000
    assert compiled.IndexValuePartitioner(seed, value_text, refuse)(event, 1000) == expected
    resolved = [("id", zlib.crc32(b"id")), ("k", zlib.crc32(b"k"))]
    by_columns = compiled.ColumnsPartitioner(seed, value_text, refuse, resolved, refuse)
    if value is not None:
        assert by_columns(event, 1000) == expected
    else:
        assert by_columns(event, 1000) == (seed ^ zlib.crc32(b"k7")) % 1000  # NULL skipped


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=100), start=st.integers(0, 2**32 - 1))
def test_crc32_is_zlibs(data, start):
    assert compiled.crc32(data, start) == zlib.crc32(data, start)
    assert compiled.crc32(data) == zlib.crc32(data)


@needs_compiled
def test_constructor_errors():
    with pytest.raises(TypeError):
        compiled.IndexValuePartitioner(1, value_text)
    with pytest.raises(ValueError):
        compiled.IndexValuePartitioner(2**32, value_text, refuse)
    with pytest.raises(TypeError):
        compiled.ColumnsPartitioner(1, value_text, refuse, (), refuse)
    with pytest.raises(TypeError):
        compiled.IndexValuePartitioner(1, 2, 3)


def test_decimal_value_is_hashed_by_its_text_both_ways():
    event = RowEvent("s", "t", 1, "insert", ["p"], {"p": "decimal(4,2)"}, None, {"p": Decimal("9.90")})
    fast, pure = (build_partitioner("index-value", "s", "t", use_compiled=flag) for flag in (True, False))
    assert fast(event, 997) == pure(event, 997) == (zlib.crc32(b"st") ^ zlib.crc32(b"p9.90")) % 997

