"""Maxwell JSON, as TiCDC writes it (tiflow ``pkg/sink/codec/maxwell``
``maxwell_encoder.go`` and ``maxwell_message.go``; ticdc has no maxwell).

A row is ``{"database":D,"table":T,"type":"insert"|"update"|"delete","ts":S,
"data":{...},"old":{...}}`` (``ts`` the commit time in seconds; ``data`` and
``old`` left out when empty), written with Go's ``json.Marshal``: columns
sorted by name, ``<``, ``>``, ``&`` escaped. An insert has ``data``; an update
``data`` and, in ``old``, the old value of each column the update changed
(NULL for a column that was NULL); a delete has the row in ``old`` (only the
handle key with ``delete-only-output-handle-key-columns``). Values carry no
types: integers, year, bit, the enum index and the set bitmask are numbers,
float and double Go's shortest digits, decimals, dates, times, JSON and
text strings, binary strings base64.

TiCDC batches rows: the rows of one partition handed to Kafka together (at
most 2048, the size of TiCDC's batch) share one message, their JSON objects
written one after the other; the message's key is the 8-byte version 1. A
message stays within max-message-bytes (TiCDC checks no size for maxwell).

A DDL is one message to every partition, key ``{"ts":N,"scm":D,"tbl":T,
"t":2}``, value ``{"type":"table-create"|...,"database","table","old":{...},
"def":{...},"ts":commit_ts,"sql":query}`` with the table's columns before
(``old``) and after (``def``) the DDL, as far as they are known
(:mod:`cdcsink.codec.common.ddl_table`). There are no watermarks.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Callable, Sequence

import orjson

from cdcsink.codec import Message
from cdcsink.codec.common import ddl_kind
from cdcsink.codec.common.refusals import bad_value, check_known_columns, event_origin
from cdcsink.codec.common.ddl_table import renamed_from, table_after
from cdcsink.codec.common.gojson import marshal, marshal_float
from cdcsink.codec.common.large import MAX_RECORD_OVERHEAD
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, GEOMETRY, INT24, INTEGERS, JSON, LONG, LONGLONG,
    NEWDECIMAL, SET, SHORT, TIMESTAMP, TINY, YEAR, Column, TableSchema,
)
from cdcsink.errors import InvalidEventError, MessageTooLargeError
from cdcsink.events import DELETE, INSERT, DDLEvent, RowEvent

#: The key of every row message: ``codec.BatchVersion1``, big-endian.
ROW_KEY = struct.pack(">Q", 1)
#: Rows one message holds at most (tiflow ``cdc/sink/dmlsink/mq/worker.go`` batchSize).
BATCH_ROWS = 2048
#: ``model.MessageTypeDDL``.
DDL_TYPE = 2
_Fragment = orjson.Fragment
_MISSING = object()
_MAX_SHAPES = 4096


def _float32(value: float) -> Any:
    return _Fragment(marshal_float(value, 32).encode())


def _float64(value: float) -> Any:
    return _Fragment(marshal_float(value, 64).encode())


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _conversion(column: Column) -> tuple[type, Callable[[Any], Any] | None]:
    tp = column.tp
    if tp in INTEGERS or tp in (YEAR, BIT, ENUM, SET):
        return int, None
    if tp == FLOAT:
        return float, _float32
    if tp == DOUBLE:
        return float, _float64
    if tp in (NEWDECIMAL, DATE, DATETIME, TIMESTAMP, DURATION, JSON):
        return str, None
    if tp in CHARS or tp in BLOBS:
        return (bytes, _base64) if column.binary else (str, None)
    if tp == GEOMETRY:
        return bytes, _no_spatial  # only NULL reaches here (a spatial value is invalid input)
    raise ValueError(f"column {column.name!r}: TiCDC's maxwell encoder has no form for {column.type_name} values")


def _no_spatial(value: Any) -> Any:
    raise ValueError("spatial values are not supported")


_Cell = tuple[str, type, "Callable[[Any], Any] | None", bool]


class _TableShape:
    __slots__ = ("info", "error", "cells", "head")

    def __init__(self, info: TableSchema) -> None:
        self.info = info
        self.error: str | None = None
        cells = []
        for column in sorted(info.columns, key=lambda c: c.name):
            try:
                expected, convert = _conversion(column)
            except ValueError as error:
                self.error = str(error)
                expected, convert = object, None
            cells.append((column.name, expected, convert, column.primary_key))
        #: Columns sorted by name, as json.Marshal writes a map.
        self.cells: tuple[_Cell, ...] = tuple(cells)
        self.head = {"database": info.schema, "table": info.table}


class MaxwellEncoder:
    ddl_to_all_partitions = True

    def __init__(self, options: EncoderOptions) -> None:
        self.options = options
        self.limit = options.max_message_bytes
        self._keys_only = options.delete_only_output_handle_key_columns
        self._shapes: dict[int, _TableShape] = {}
        self._known: dict[tuple[str, str], TableSchema] = {}

    def _shape(self, event: RowEvent) -> _TableShape:
        try:
            info = event.table_info
        except ValueError as error:
            raise InvalidEventError(event_origin(event), f"maxwell: {error}") from None
        shape = self._shapes.get(id(info))
        if shape is None or shape.info is not info:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
                self._known.clear()
            shape = self._shapes[id(info)] = _TableShape(info)
            self._known[(info.schema, info.table)] = info
        if shape.error is not None:
            raise InvalidEventError(event_origin(event), f"maxwell: {shape.error}")
        return shape

    def _image(self, shape: _TableShape, image: dict[str, Any], event: RowEvent, keys_only: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        get = image.get
        for name, expected, convert, key in shape.cells:
            value = get(name, _MISSING)
            if value is _MISSING or (keys_only and not key):
                continue
            if value is not None:
                if type(value) is not expected:
                    raise bad_value("maxwell", event, name, value, expected)
                if convert is not None:
                    value = convert(value)
            out[name] = value
        if not keys_only and len(out) != len(image):
            check_known_columns("maxwell", image, event)
        return out

    def encode_row(self, event: RowEvent) -> Message:
        """One row's JSON object (its message is made by :meth:`pack`)."""
        shape = self._shape(event)
        commit_ms = event.commit_time_ms if event.commit_time_ms is not None else event.commit_ts >> 18
        doc = dict(shape.head)
        if event.op == DELETE:
            doc["type"] = "delete"
            doc["ts"] = commit_ms // 1000
            keys_only = self._keys_only and bool(shape.info.pk)
            old = self._image(shape, event.before, event, keys_only)  # type: ignore[arg-type]
            if old:
                doc["old"] = old
        else:
            data = self._image(shape, event.after, event)  # type: ignore[arg-type]
            doc["type"] = "insert" if event.op == INSERT else "update"
            doc["ts"] = commit_ms // 1000
            if data:
                doc["data"] = data
            if event.op != INSERT:
                old = self._changed(shape, event.before, event.after, data, event)  # type: ignore[arg-type]
                if old:
                    doc["old"] = old
        try:
            value = marshal(doc)
        except (TypeError, ValueError) as error:  # a float JSON cannot carry, an int past 64 bits
            raise InvalidEventError(event_origin(event), f"maxwell: a value JSON cannot carry: {error}") from None
        size = len(ROW_KEY) + len(value) + MAX_RECORD_OVERHEAD
        if size > self.limit:
            raise MessageTooLargeError(
                f"maxwell message of {size} bytes for {event.describe()} exceeds max-message-bytes "
                f"({self.limit} bytes, counting {MAX_RECORD_OVERHEAD} bytes of Kafka record overhead); "
                "maxwell has no large-message-handle-option"
            )
        return b"", value

    def _changed(self, shape: _TableShape, before: dict[str, Any], after: dict[str, Any], data: dict[str, Any],
                 event: RowEvent) -> dict[str, Any]:
        """``old``: the old value of each column whose value the update changed
        (a column the new image leaves out counts as NULL there, as in TiCDC)."""
        old = self._image(shape, before, event)
        return {
            name: value for name, value in old.items()
            if not _same(before.get(name), after.get(name))
        }

    def pack(self, rows: list[Message]) -> list[Message]:
        """Rows' JSON objects one after the other, a new message when the next one
        would take the message past max-message-bytes or :data:`BATCH_ROWS` rows."""
        out: list[Message] = []
        values: list[bytes] = []
        empty = len(ROW_KEY) + MAX_RECORD_OVERHEAD
        size = empty
        for _, value in rows:
            if values and (len(values) >= BATCH_ROWS or size + len(value) > self.limit):
                out.append((ROW_KEY, b"".join(values)))
                values, size = [], empty
            values.append(value)
            size += len(value)
        if values:
            out.append((ROW_KEY, b"".join(values)))
        return out

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        return self.pack([self.encode_row(event) for event in events])

    # -- DDL -----------------------------------------------------------------------------

    def encode_ddl(self, event: DDLEvent) -> Message | None:
        action = ddl_kind.classify(event.query).action
        db, table = event.schema, event.table or ""
        source = renamed_from(event.query, db) if action == ddl_kind.RENAME_TABLE else None
        before = self._known.get(source or (db, table)) if table else None
        after = table_after(action, event.query, db, table, before)
        key: dict[str, Any] = {"ts": event.commit_ts}
        if db:
            key["scm"] = db
        if table:
            key["tbl"] = table
        key["t"] = DDL_TYPE
        old = _table_struct(before) if before is not None and action != ddl_kind.CREATE_TABLE else _EMPTY_TABLE
        value = {
            "type": maxwell_ddl_type(action),
            "database": db,
            "table": table,
            "old": old,
            "def": _table_struct(after) if after is not None else {"database": db, "table": table, "columns": None,
                                                                    "primary-key": None},
            "ts": event.commit_ts,
            "sql": event.query,
        }
        if after is not None:
            value["def"]["database"], value["def"]["table"] = db, table
        message = (marshal(key), marshal(value))
        size = len(message[0]) + len(message[1]) + MAX_RECORD_OVERHEAD
        if size > self.limit:
            raise MessageTooLargeError(f"maxwell DDL message of {size} bytes exceeds max-message-bytes ({self.limit}): {event.describe()}")
        self._follow(event, action, source, after)
        return message

    def _follow(self, event: DDLEvent, action: int, source: tuple[str, str] | None, after: TableSchema | None) -> None:
        if not event.table:
            return
        key = (event.schema, event.table)
        if action == ddl_kind.DROP_TABLE:
            self._known.pop(key, None)
        elif after is not None:
            if source is not None:
                self._known.pop(source, None)
            self._known[key] = after

    def encode_watermark(self, ts: int) -> Message | None:
        return None  # TiCDC's maxwell has no resolved-ts message


_EMPTY_TABLE = {"database": "", "table": "", "columns": None, "primary-key": None}

#: ``columnToMaxwellType``.
_MAXWELL_TYPES = {
    TINY: "int", SHORT: "int", LONG: "int", INT24: "int", LONGLONG: "bigint", DATE: "date", TIMESTAMP: "datetime",
    DATETIME: "datetime", DURATION: "time", YEAR: "year", ENUM: "enum", SET: "set", BIT: "bit", JSON: "json",
    FLOAT: "float", DOUBLE: "float", NEWDECIMAL: "decimal",
}


def maxwell_column_type(column: Column) -> str | None:
    if column.tp in CHARS or column.tp in BLOBS:
        return "string"
    return _MAXWELL_TYPES.get(column.tp)


def _table_struct(info: TableSchema) -> dict[str, Any]:
    """``tableStruct`` of a table: its columns' maxwell types (no primary key:
    TiCDC leaves it null)."""
    return {
        "database": info.schema,
        "table": info.table,
        "columns": [{"type": maxwell_column_type(column) or "", "name": column.name} for column in info.columns],
        "primary-key": None,
    }


_ACTION_NAMES = {
    1: "create schema", 2: "drop schema", 3: "create table", 4: "drop table", 5: "add column", 6: "drop column",
    7: "add index", 8: "drop index", 9: "add foreign key", 10: "drop foreign key", 11: "truncate table",
    12: "modify column", 13: "rebase auto_increment ID", 14: "rename table", 15: "set default value",
    16: "shard row ID", 17: "modify table comment", 18: "rename index", 19: "add partition", 20: "drop partition",
    21: "create view", 22: "modify table charset and collate", 23: "truncate partition", 24: "drop view",
    25: "recover table", 26: "modify schema charset and collate", 27: "lock table", 28: "unlock table",
    29: "repair table", 30: "set tiflash replica", 31: "update tiflash replica status", 32: "add primary key",
    33: "drop primary key", 34: "create sequence", 35: "alter sequence", 36: "drop sequence",
    39: "modify auto id cache", 40: "rebase auto_random ID", 41: "alter index visibility", 42: "exchange partition",
    43: "add check constraint", 44: "drop check constraint", 45: "alter check constraint", 46: "alter partition",
    47: "rename tables", 49: "alter table attributes", 50: "alter table partition attributes",
    51: "create placement policy", 52: "alter placement policy", 53: "drop placement policy",
    54: "alter table partition placement", 55: "modify schema default placement", 56: "alter table placement",
    57: "alter table cache", 58: "alter table statistics options", 59: "alter table nocache", 60: "create tables",
    61: "alter table multi-schema change", 62: "flashback cluster", 63: "flashback schema",
    64: "alter table reorganize partition", 65: "alter table ttl", 67: "alter table no_ttl",
    68: "create resource group", 69: "alter resource group", 70: "drop resource group", 71: "alter table partition by",
    72: "alter table remove partitioning", 73: "add columnar index",
}


def maxwell_ddl_type(action: int) -> str:
    """``ddlToMaxwellType``: table-alter for actions 5..20 and a few more,
    table-create/-drop, database-create/-drop/-alter, else TiDB's action name."""
    if 5 <= action <= 20 or action in (22, 23, 27, 28, 29, 33, 37, 38, 41, 42):
        return "table-alter"
    if action == 3:
        return "table-create"
    if action == 4:
        return "table-drop"
    if action == 1:
        return "database-create"
    if action == 2:
        return "database-drop"
    if action == 26:
        return "database-alter"
    return _ACTION_NAMES.get(action, "none")


def _same(old: Any, new: Any) -> bool:
    """Whether an update left a column's value as it was (same type and value)."""
    return type(old) is type(new) and old == new
