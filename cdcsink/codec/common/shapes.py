"""A per-table cache of what an encoder derives from a table's columns."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from cdcsink.events import RowEvent

T = TypeVar("T")


class TableShapes(Generic[T]):
    """``build(event)`` once per table, again whenever its ``columns`` change
    (a schema change mid-stream). Each event carries its own ``columns`` dict,
    so a hit costs one dict lookup and one small dict comparison."""

    def __init__(self, build: Callable[[RowEvent], T]) -> None:
        self._build = build
        self._cache: dict[tuple[str, str], tuple[dict[str, str], T]] = {}

    def get(self, event: RowEvent) -> T:
        key = (event.schema, event.table)
        cached = self._cache.get(key)
        if cached is None or (cached[0] is not event.columns and cached[0] != event.columns):
            cached = self._cache[key] = (event.columns, self._build(event))
        return cached[1]
