"""The change events that flow through the pipeline.

Plain slotted classes rather than pydantic models: one is built per input line
on the hot path, and their fields were already checked by the decoder.
"""

from __future__ import annotations

from typing import Any

from cdcsink.codec.schema import TableSchema, cached_table_schema

INSERT = "insert"
UPDATE = "update"
DELETE = "delete"
ROW_OPS = frozenset((INSERT, UPDATE, DELETE))


class RowEvent:
    """An insert, update or delete of one row.

    ``columns`` maps column name to its declaration as the input gave it (a
    type string or an object), ``pk`` names the handle-key columns;
    ``table_info`` is the parsed :class:`~cdcsink.codec.schema.TableSchema`. ``before`` is set for update and delete, ``after`` for
    insert and update.
    """

    __slots__ = (
        "schema",
        "table",
        "commit_ts",
        "op",
        "pk",
        "columns",
        "before",
        "after",
        "commit_time_ms",
        "line",
        "_info",
    )
    kind = "row"

    def __init__(
        self,
        schema: str,
        table: str,
        commit_ts: int,
        op: str,
        pk: list[str],
        columns: dict[str, str],
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        commit_time_ms: int | None = None,
        line: int = 0,
        table_info: TableSchema | None = None,
    ) -> None:
        self.schema = schema
        self.table = table
        self.commit_ts = commit_ts
        self.op = op
        self.pk = pk
        self.columns = columns
        self.before = before
        self.after = after
        self.commit_time_ms = commit_time_ms
        self.line = line
        self._info = table_info

    @property
    def table_info(self) -> TableSchema:
        """The parsed table model (the input decoder hands over one per table;
        an event built without one parses its ``columns`` on first use, cached
        per table while the columns stay the same)."""
        info = self._info
        if info is None:
            info = self._info = cached_table_schema(self.schema, self.table, self.columns, self.pk)
        return info

    def pk_values(self) -> dict[str, Any]:
        """The handle-key values (from the post-image, or the pre-image for deletes)."""
        image = self.after if self.after is not None else self.before
        assert image is not None
        return {name: image.get(name) for name in self.pk}

    def describe(self) -> str:
        """``schema.table commit_ts=N pk={...}``: enough to find the event again."""
        return f"{self.schema}.{self.table} commit_ts={self.commit_ts} pk={self.pk_values()}"

    def __repr__(self) -> str:
        return f"RowEvent({self.op} {self.describe()})"


class DDLEvent:
    """A schema change. ``table`` is None for a schema-level DDL."""

    __slots__ = ("schema", "table", "commit_ts", "query", "commit_time_ms", "line")
    kind = "ddl"

    def __init__(
        self,
        schema: str,
        table: str | None,
        commit_ts: int,
        query: str,
        commit_time_ms: int | None = None,
        line: int = 0,
    ) -> None:
        self.schema = schema
        self.table = table
        self.commit_ts = commit_ts
        self.query = query
        self.commit_time_ms = commit_time_ms
        self.line = line

    def describe(self) -> str:
        name = f"{self.schema}.{self.table}" if self.table else self.schema
        return f"DDL {name} commit_ts={self.commit_ts} query={self.query!r}"

    def __repr__(self) -> str:
        return f"DDLEvent({self.describe()})"


class ResolvedEvent:
    """A promise that no later event has ``commit_ts <= self.commit_ts``.

    ``position`` is where the source resumes when this resolved ts is the
    checkpoint (just after this event).
    """

    __slots__ = ("commit_ts", "commit_time_ms", "position", "line")
    kind = "resolved"

    def __init__(
        self,
        commit_ts: int,
        commit_time_ms: int | None = None,
        position: dict[str, Any] | None = None,
        line: int = 0,
    ) -> None:
        self.commit_ts = commit_ts
        self.commit_time_ms = commit_time_ms
        self.position = position
        self.line = line

    def __repr__(self) -> str:
        return f"ResolvedEvent(commit_ts={self.commit_ts})"


Event = RowEvent | DDLEvent | ResolvedEvent
