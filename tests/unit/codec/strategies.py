"""Hypothesis strategies shared by the codec tests: tables with columns of
every supported type, and rows of canonical values (the forms
``cdcsink.codec.schema`` documents) including each type's edge values.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cdcsink.codec.schema import TableSchema, table_schema
from cdcsink.events import DELETE, INSERT, UPDATE, RowEvent

#: One declaration per supported type, with the widths that matter at the edges.
DECLARED_TYPES = (
    "tinyint", "tinyint unsigned", "smallint", "smallint unsigned", "mediumint", "mediumint unsigned",
    "int", "int unsigned", "bigint", "bigint unsigned", "int(10) unsigned zerofill", "bool",
    "float", "double", "decimal(10,2)", "decimal(65,30)", "decimal(5,0) unsigned",
    "date", "datetime", "datetime(6)", "timestamp", "timestamp(3)", "time", "time(6)", "year",
    "char(10)", "varchar(64)", "tinytext", "text", "mediumtext", "longtext",
    "binary(8)", "varbinary(64)", "tinyblob", "blob", "mediumblob", "longblob",
    "bit(1)", "bit(64)", "json", "enum('a','b','C d','é')", "set('a','b','c','ü')",
)

_INT_RANGES = {
    "tinyint": (-(2**7), 2**7 - 1, 2**8 - 1), "smallint": (-(2**15), 2**15 - 1, 2**16 - 1),
    "mediumint": (-(2**23), 2**23 - 1, 2**24 - 1), "int": (-(2**31), 2**31 - 1, 2**32 - 1),
    "bigint": (-(2**63), 2**63 - 1, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from((low, high, 0, low + 1, high - 1)), st.integers(low, high))


def _decimal(precision: int, scale: int, unsigned: bool) -> st.SearchStrategy[str]:
    whole = precision - scale

    def text(sign: bool, digits: int, fraction: int) -> str:
        body = str(digits)
        if scale:
            body += "." + str(fraction).rjust(scale, "0")
        return ("-" if sign and not unsigned else "") + body

    return st.builds(text, st.booleans(), st.integers(0, 10**whole - 1), st.integers(0, 10**scale - 1))


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_bytes = st.one_of(st.just(bytes(range(256))), st.binary(max_size=64))
_dates = st.dates().filter(lambda d: d.year >= 1000).map(lambda d: d.isoformat())
_times = st.times()
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _datetime(fsp: int) -> st.SearchStrategy[str]:
    def text(date: str, time: Any) -> str:
        base = f"{date} {time.strftime('%H:%M:%S')}"
        return base + ("." + f"{time.microsecond:06d}"[:fsp] if fsp else "")

    return st.builds(text, _dates, _times)


def _duration(fsp: int) -> st.SearchStrategy[str]:
    def text(negative: bool, hours: int, minutes: int, seconds: int, micros: int) -> str:
        body = f"{hours:02d}:{minutes:02d}:{seconds:02d}" + ("." + f"{micros:06d}"[:fsp] if fsp else "")
        return ("-" if negative and (hours or minutes or seconds or micros) else "") + body

    return st.builds(text, st.booleans(), st.integers(0, 838), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999999))


def value_strategy(column: Any) -> st.SearchStrategy[Any]:
    """Canonical values of one column (NULL included when it is nullable)."""
    name, tp = column.type_name, column.tp
    if name in _INT_RANGES:
        low, high, unsigned_high = _INT_RANGES[name]
        values = _integers(0, unsigned_high) if column.unsigned else _integers(low, high)
        if column.flen == 1 and name == "tinyint":
            values = st.one_of(st.sampled_from((0, 1)), values)
    elif name == "year":
        values = st.one_of(st.just(0), st.integers(1901, 2155))
    elif name == "bit":
        values = _integers(0, 2 ** (column.flen or 1) - 1)
    elif name == "float":
        values = st.floats(width=32, allow_nan=False, allow_infinity=False)
    elif name == "double":
        values = st.one_of(st.sampled_from((0.0, 2.0, 1e20, 1e-7, -1.5, 1.7976931348623157e308)), st.floats(allow_nan=False, allow_infinity=False))
    elif name == "decimal":
        values = _decimal(column.flen or 10, column.decimal or 0, column.unsigned)
    elif name == "date":
        values = _dates
    elif name in ("datetime", "timestamp"):
        values = _datetime(column.decimal or 0)
    elif name == "time":
        values = _duration(column.decimal or 0)
    elif name == "json":
        import json

        values = _json_values.map(lambda v: json.dumps(v, ensure_ascii=False))
    elif name == "enum":
        values = st.integers(1, len(column.elems))
    elif name == "set":
        values = st.integers(0, 2 ** len(column.elems) - 1)
    elif column.binary:
        values = _bytes if tp != 254 else st.binary(min_size=column.flen or 1, max_size=column.flen or 1)
    else:
        values = st.one_of(st.just(""), _text)
    return st.one_of(st.none(), values) if column.nullable else values


@st.composite
def tables(draw: st.DrawFn, types: tuple[str, ...] = DECLARED_TYPES, max_columns: int = 8) -> TableSchema:
    """A table: an ``id bigint`` pk, then some of ``types`` (each at most once)."""
    chosen = draw(st.lists(st.sampled_from(types), min_size=1, max_size=max_columns, unique=True))
    columns: dict[str, Any] = {"id": "bigint"}
    for i, declared in enumerate(chosen):
        columns[f"c{i}"] = declared
    return table_schema("db", "tbl", columns, ["id"])


def all_types_table() -> TableSchema:
    """One column of every supported type (an ``id bigint`` pk first)."""
    columns: dict[str, Any] = {"id": "bigint"}
    for i, declared in enumerate(DECLARED_TYPES):
        columns[f"c{i}"] = declared
    return table_schema("db", "all_types", columns, ["id"])


def images(draw: st.DrawFn, table: TableSchema) -> dict[str, Any]:
    return {column.name: draw(value_strategy(column)) for column in table.columns}


@st.composite
def row_events(draw: st.DrawFn, table: TableSchema | None = None) -> RowEvent:
    """A row event of ``table`` (or a drawn one) with canonical values."""
    table = table or draw(tables())
    op = draw(st.sampled_from((INSERT, UPDATE, DELETE)))
    before = images(draw, table) if op != INSERT else None
    after = images(draw, table) if op != DELETE else None
    if before is not None and after is not None:
        after["id"] = before["id"]
    declared = {column.name: column.declared for column in table.columns}
    commit_ts = draw(st.integers(1, 2**63 - 1))
    return RowEvent(table.schema, table.table, commit_ts, op, list(table.pk), declared, before, after, None, 0, table)
