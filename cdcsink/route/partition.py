"""Partitioners: ``partition(event, num_partitions) -> int``, one per table.

The hashes are TiCDC's, so a row lands on the partition TiCDC would choose
(checked against TiCDC's own test vectors), in every process and after every
restart (Python's ``hash()`` is salted per process and is not used):

- ``table`` (= ``default``): ``crc32(schema + table) % n`` (UTF-8, no separator).
- ``index-value``: ``crc32(schema + table)``, XOR ``crc32(name + text(value))``
  for each handle-key column (``event.pk``, values from ``after``, or
  ``before`` for a delete); ``% n``. XOR makes the column order irrelevant.
  A table without a handle key hashes like ``table`` (TiCDC's handle is then
  the hidden row id, which is not in the event), so its rows keep their order.
- ``columns``: the same with the listed columns, names lower-cased as
  configured and looked up case-insensitively (MySQL column names are);
  NULL values are skipped, as in TiCDC.
- ``ts``: ``commit_ts % n``.

``crc32`` is zlib's (IEEE). ``text(value)`` is the value's MySQL text form,
like TiCDC's ``ColumnValueString``, so one logical value hashes the same
whatever JSON type carried it: a string as itself (``"42"``, ``"9.99"``), the
bytes of a binary column as they are; an
integer in decimal, so ``42`` and ``"42"`` agree; ``true``/``false`` as
``1``/``0``; a float as its shortest round-trip decimal without exponent or
``.0`` (Go's ``FormatFloat(v, 'f', -1, 64)``), so ``42.0`` agrees with ``42``;
``null`` as ``null`` (index-value only); an array or object (a JSON column)
as compact JSON with sorted keys. A decimal's scale is part of its text
(``"9.90"`` and ``9.9`` differ), and a FLOAT column carried as a widened
double may differ from TiCDC's float32 text.

The index-value and columns hashes have a compiled twin
(``cdcsink/route/_speedups.c``, see :mod:`cdcsink.speedups`) that returns
what the closures here return; ``use_compiled=False`` builds the pure-Python
partitioner, the reference.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any, Callable

from cdcsink.jsonvalues import dumps_sorted
from cdcsink.errors import ConfigError
from cdcsink.events import RowEvent
from cdcsink.speedups import load

_speedups = load("cdcsink.route._speedups")

Partitioner = Callable[[RowEvent, int], int]

_crc32 = zlib.crc32


def _float_text(value: float) -> str:
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def value_text(value: Any) -> bytes:
    """The canonical bytes of a column value (see the module docstring)."""
    kind = type(value)
    if kind is str:
        return value.encode()
    if kind is bytes:  # a binary column's value: its bytes, as TiCDC's string(v)
        return value
    if kind is int:
        return b"%d" % value
    if kind is bool:
        return b"1" if value else b"0"
    if kind is float:
        return _float_text(value).encode()
    if value is None:
        return b"null"
    if isinstance(value, (list, dict)):
        return dumps_sorted(value)
    return str(value).encode()


def table_hash(schema: str, table: str) -> int:
    """TiCDC's table hash: ``crc32(schema + table)``."""
    return _crc32((schema + table).encode())


def table_partitioner(schema: str, table: str) -> Partitioner:
    """Every row of a table to one partition."""
    digest = table_hash(schema, table)

    def partition(event: RowEvent, n: int) -> int:
        return digest % n

    return partition


def ts_partitioner() -> Partitioner:
    """Rows by commit ts: a transaction's rows together, tables spread."""

    def partition(event: RowEvent, n: int) -> int:
        return event.commit_ts % n

    return partition


def index_value_partitioner(schema: str, table: str, use_compiled: bool = True) -> Partitioner:
    """Rows with the same handle-key values to one partition."""
    seed = table_hash(schema, table)
    prefixes: dict[str, int] = {}

    def partition(event: RowEvent, n: int) -> int:
        image = event.after if event.after is not None else event.before
        digest = seed
        for name in event.pk:
            prefix = prefixes.get(name)
            if prefix is None:
                prefix = prefixes[name] = _crc32(name.encode())
            value = image.get(name)  # type: ignore[union-attr]
            kind = type(value)
            data = value.encode() if kind is str else b"%d" % value if kind is int else value_text(value)
            digest ^= _crc32(data, prefix)
        return digest % n

    if use_compiled and _speedups is not None:
        return _speedups.IndexValuePartitioner(seed, value_text, partition)  # type: ignore[no-any-return]
    return partition


def columns_partitioner(schema: str, table: str, columns: list[str], use_compiled: bool = True) -> Partitioner:
    """Rows with the same values in ``columns`` to one partition.

    The columns are resolved against the table's columns on first use (and
    again whenever a resolved name disappears, e.g. after a DDL); a column the
    table does not have raises :class:`ConfigError` naming table and column.
    """
    seed = table_hash(schema, table)
    wanted = [name.lower() for name in columns]
    prefixes = [_crc32(name.encode()) for name in wanted]
    resolved: list[tuple[str, int]] = []

    def resolve(event: RowEvent) -> None:
        by_lower = {name.lower(): name for name in event.columns}
        for configured, name in zip(columns, wanted):
            if name not in by_lower:
                raise ConfigError(
                    f"partition columns: table {schema}.{table} has no column {configured!r} "
                    f"(event at commit_ts={event.commit_ts})"
                )
        resolved[:] = [(by_lower[name], prefix) for name, prefix in zip(wanted, prefixes)]

    def partition(event: RowEvent, n: int) -> int:
        table_columns = event.columns
        if not resolved:
            resolve(event)
        for name, _ in resolved:
            if name not in table_columns:
                resolve(event)
                break
        image = event.after if event.after is not None else event.before
        digest = seed
        for name, prefix in resolved:
            value = image.get(name)  # type: ignore[union-attr]
            if value is not None:
                kind = type(value)
                data = value.encode() if kind is str else b"%d" % value if kind is int else value_text(value)
                digest ^= _crc32(data, prefix)
        return digest % n

    if use_compiled and _speedups is not None:
        return _speedups.ColumnsPartitioner(seed, value_text, partition, resolved, resolve)  # type: ignore[no-any-return]
    return partition


def build_partitioner(
    kind: str, schema: str, table: str, columns: list[str] | None = None, use_compiled: bool = True
) -> Partitioner:
    """The partitioner ``kind`` (a dispatcher's ``partition``) for one table
    (``use_compiled=False``: the pure-Python one even where the compiled hash is built)."""
    if kind in ("default", "table"):
        return table_partitioner(schema, table)
    if kind == "index-value":
        return index_value_partitioner(schema, table, use_compiled)
    if kind == "ts":
        return ts_partitioner()
    if kind == "columns":
        if not columns:
            raise ConfigError("partition columns needs a non-empty columns list")
        return columns_partitioner(schema, table, columns, use_compiled)
    raise ConfigError(f"unknown partition {kind!r} (default, table, index-value, ts or columns)")
