"""Partitioners: ``(event, num_partitions) -> partition``.

Hashes are CRC-32 (zlib) over a canonical byte encoding, so a key lands on
the same partition in every process and after every restart (Python's
``hash()`` is salted per process). The canonical encoding of a value is its
compact JSON text (orjson), so ``1`` and ``"1"`` are different keys, as
they are different JSON values in the input; fields are separated by NUL.
"""

from __future__ import annotations

import zlib
from typing import Callable

import orjson

from cdcsink.errors import ConfigError
from cdcsink.events import RowEvent

Partitioner = Callable[[RowEvent, int], int]


def table_hash(schema: str, table: str) -> int:
    return zlib.crc32(f"{schema}\x00{table}".encode())


def _image(event: RowEvent) -> dict:
    return event.after if event.after is not None else event.before  # type: ignore[return-value]


def table_partitioner(schema: str, table: str) -> Partitioner:
    """Every row of a table to one partition (TiCDC ``table``, the default)."""
    digest = table_hash(schema, table)

    def partition(event: RowEvent, n: int) -> int:
        return digest % n

    return partition


def ts_partitioner() -> Partitioner:
    def partition(event: RowEvent, n: int) -> int:
        return event.commit_ts % n

    return partition


def _values_partitioner(schema: str, table: str, names_of: Callable[[RowEvent], list[str]]) -> Partitioner:
    prefix = f"{schema}\x00{table}".encode()
    seed = zlib.crc32(prefix)
    crc32, dumps = zlib.crc32, orjson.dumps

    def partition(event: RowEvent, n: int) -> int:
        image = _image(event)
        digest = seed
        for name in names_of(event):
            digest = crc32(b"\x00" + dumps(image.get(name)), digest)
        return digest % n

    return partition


def index_value_partitioner(schema: str, table: str) -> Partitioner:
    """Rows with the same handle-key values to one partition (TiCDC ``index-value``).
    A table without a handle key hashes all its columns."""

    def names(event: RowEvent) -> list[str]:
        return event.pk or sorted(event.columns)

    return _values_partitioner(schema, table, names)


def columns_partitioner(schema: str, table: str, columns: list[str]) -> Partitioner:
    """Rows with the same values in ``columns`` to one partition (TiCDC ``columns``)."""
    checked: list[object] = []

    def names(event: RowEvent) -> list[str]:
        if not checked or checked[0] is not event.columns:
            missing = [c for c in columns if c not in event.columns]
            if missing:
                raise ConfigError(
                    f"columns partitioner: table {schema}.{table} has no column {missing[0]!r} "
                    f"(commit_ts={event.commit_ts})"
                )
            checked[:] = [event.columns]
        return columns

    return _values_partitioner(schema, table, names)


def build_partitioner(kind: str, schema: str, table: str, columns: list[str]) -> Partitioner:
    if kind in ("default", "table"):
        return table_partitioner(schema, table)
    if kind == "index-value":
        return index_value_partitioner(schema, table)
    if kind == "ts":
        return ts_partitioner()
    if kind == "columns":
        return columns_partitioner(schema, table, columns)
    raise ConfigError(f"unknown partition {kind!r}")
