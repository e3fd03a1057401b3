"""Debezium JSON, as TiCDC writes it (ticdc ``pkg/sink/codec/debezium``).

One row per message. The key is ``{"payload":{<handle-key columns>},
"schema":{...}}``; the value ``{"payload":{"source":{...},"ts_ms":T,
"transaction":null,"op":"c"|"u"|"d","before":...,"after":...},"schema":{...}}``:

- ``source``: ``version`` 2.4.0.Final, ``connector`` TiCDC, ``name`` and
  ``cluster_id`` the changefeed, ``ts_ms`` the commit time (the event's
  ``commit_time_ms``, else ``commit_ts >> 18``), ``db``, ``table``,
  ``commit_ts``, and MySQL binlog fields at zero;
- ``ts_ms``: when the message was built; ``op``: ``c`` (insert, ``before``
  null), ``u`` (``before`` only with ``debezium-output-old-value``, the
  default), ``d`` (``after`` null);
- values as :mod:`cdcsink.codec.debezium.values` says, each column's schema
  as :func:`cdcsink.codec.debezium.message.field_schema` says;
  ``enable-tidb-extension`` adds each column's ``tidb_type`` to the schema,
  ``commit_ts``/``cluster_id`` to the source schema, and watermark messages
  (``op`` ``m``); ``debezium-disable-schema`` leaves every ``schema`` out.

A DDL is a schema-change message (key ``{"payload":{"databaseName":db}}``,
value with ``ddl``, ``databaseName`` and ``tableChanges``), sent to every
partition; a DDL kind TiCDC has no Debezium form for is not sent (TiCDC
logs and skips it). No tombstone follows a delete (TiCDC writes none).

The key, the schemas and each column's conversion are built once per table
model; per row the encoder converts the values and joins prepared bytes.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import orjson

from cdcsink.codec import Message
from cdcsink.codec.common import ddl_kind
from cdcsink.codec.common.refusals import bad_value, check_known_columns, event_origin
from cdcsink.codec.common.ddl_table import created_table, exchanged_with, renamed_from, table_after
from cdcsink.codec.common.golang import format_float32, format_float64, json_iter_escapes
from cdcsink.codec.common.large import MAX_RECORD_OVERHEAD, compressor
from cdcsink.codec.debezium import message as wire
from cdcsink.codec.debezium import values as dbz
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, GEOMETRY, INTEGERS, JSON, LONGLONG, NEWDECIMAL, SET,
    TIMESTAMP, YEAR, Column, TableSchema,
)
from cdcsink.errors import InvalidEventError, MessageTooLargeError
from cdcsink.events import DELETE, INSERT, DDLEvent, RowEvent

_dumps = orjson.dumps
_Fragment = orjson.Fragment
_MISSING = object()
_MAX_SHAPES = 4096


def _json(value: Any) -> bytes:
    return json_iter_escapes(_dumps(value))


# -- values --------------------------------------------------------------------------


def _float64(value: float) -> Any:
    magnitude = value if value > 0 else -value
    if 1e-4 <= magnitude < 1e16 and not magnitude.is_integer():
        return value  # orjson writes json-iterator's digits here
    return _Fragment(format_float64(value))


def _float32(value: float) -> Any:
    return _Fragment(format_float32(value))


def _decimal(value: str) -> Any:
    return _float64(float(value))


class _Invalid(ValueError):
    """A value TiCDC cannot encode (it fails the changefeed)."""


def _conversion(column: Column) -> tuple[type, Callable[[Any], Any] | None]:
    """The canonical Python type of the column's values, and how its JSON value is made."""
    tp = column.tp
    if tp in INTEGERS:
        if tp == LONGLONG and column.unsigned:
            return int, dbz.signed_bigint
        return int, None
    if tp == YEAR:
        return int, None
    if tp == BIT:
        bits = wire.bit_length(column)
        if bits == 1:
            return int, bool
        return int, lambda value: dbz.b64(dbz.bit_bytes(value, bits))
    if tp == FLOAT:
        return float, _float32
    if tp == DOUBLE:
        return float, _float64
    if tp == NEWDECIMAL:
        return str, _decimal
    if tp in CHARS or tp in BLOBS:
        return (bytes, dbz.b64) if column.binary else (str, None)
    if tp == ENUM:
        elems = column.elems
        return int, lambda value: dbz.enum_name(elems, value)
    if tp == SET:
        elems = column.elems
        return int, lambda value: dbz.set_names(elems, value)
    if tp == JSON:
        return str, None
    zero = None if column.nullable else 0
    if tp == DATE:
        return str, lambda value: _or(dbz.date_days(value), zero)
    if tp == DATETIME:
        if (column.decimal or 0) <= 3:
            return str, lambda value: _or(_millis(dbz.datetime_micros(value)), zero)
        return str, lambda value: _or(dbz.datetime_micros(value), zero)
    if tp == TIMESTAMP:
        return str, _zoned
    if tp == DURATION:
        return str, dbz.duration_micros
    if tp == GEOMETRY:
        return bytes, _no_spatial  # only NULL reaches here (a spatial value is invalid input)
    raise ValueError(f"column {column.name!r}: TiCDC's debezium encoder has no form for {column.type_name} values")


def _or(value: Any, zero: Any) -> Any:
    return zero if value is None else value


def _millis(micros: int | None) -> int | None:
    return None if micros is None else micros // 1000


def _zoned(value: str) -> str:
    zoned = dbz.zoned_timestamp(value)
    if zoned is None:
        raise _Invalid(f"{value!r} is not a valid time (TiCDC's debezium encoder fails on it)")
    return zoned


def _no_spatial(value: Any) -> Any:
    raise ValueError("spatial values are not supported")


_Cell = tuple[str, type, "Callable[[Any], Any] | None"]
class _TableShape:
    """What the encoder derives from one table model."""

    __slots__ = ("info", "error", "cells", "key_cells", "key_schema", "value_schema", "source_head", "source_tail")

    def __init__(self, info: TableSchema, options: EncoderOptions) -> None:
        self.info = info
        self.error: str | None = None
        cells = []
        for column in info.columns:
            try:
                expected, convert = _conversion(column)
            except ValueError as error:
                self.error = str(error)
                expected, convert = object, None
            cells.append((column.name, expected, convert))
        self.cells: tuple[_Cell, ...] = tuple(cells)
        self.key_cells: tuple[_Cell, ...] = tuple(cell for cell, column in zip(cells, info.columns) if column.primary_key)
        cluster, extension = options.cluster_id, options.enable_tidb_extension
        if options.debezium_disable_schema:
            self.key_schema = self.value_schema = b""
        else:
            self.key_schema = b',"schema":' + _json(wire.key_schema(cluster, info, extension))
            self.value_schema = b',"schema":' + _json(wire.envelope_schema(cluster, info, extension))
        head = _json({"version": wire.VERSION, "connector": wire.CONNECTOR, "name": cluster, "ts_ms": 0})
        self.source_head = head[: -len(b"0}")]
        self.source_tail = _json({
            "snapshot": "false", "db": info.schema, "table": info.table, "server_id": 0, "gtid": None, "file": "",
            "pos": 0, "row": 0, "thread": 0, "query": None, "commit_ts": 0,
        })[1 : -len(b"0}")]
        self.source_tail = b"," + self.source_tail


class DebeziumEncoder:
    ddl_to_all_partitions = True

    def __init__(self, options: EncoderOptions) -> None:
        self.options = options
        self.limit = options.max_message_bytes
        self._clock = options.clock_ms
        self._compress = compressor(options.large_message_handle_compression)
        self._old_value = options.debezium_output_old_value
        self._cluster_tail = b',"cluster_id":' + _json(options.cluster_id) + b"}"
        self._shapes: dict[int, _TableShape] = {}
        #: The table model of the last row of each table, for DDL messages.
        self._known: dict[tuple[str, str], TableSchema] = {}

    def _shape(self, event: RowEvent) -> _TableShape:
        try:
            info = event.table_info
        except ValueError as error:
            raise InvalidEventError(event_origin(event), f"debezium: {error}") from None
        shape = self._shapes.get(id(info))
        if shape is None or shape.info is not info:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
                self._known.clear()
            shape = self._shapes[id(info)] = _TableShape(info, self.options)
            self._known[(info.schema, info.table)] = info
        if shape.error is not None:
            raise InvalidEventError(event_origin(event), f"debezium: {shape.error}")
        return shape

    # -- rows ------------------------------------------------------------------------

    def _image(self, cells: tuple[_Cell, ...], image: dict[str, Any], event: RowEvent, whole: bool = True) -> dict[str, Any]:
        """The JSON values of ``image``'s columns in table order; ``whole``: ``cells``
        are all the table's columns, so an image column not among them is an error."""
        out: dict[str, Any] = {}
        get = image.get
        name = ""
        try:
            for name, expected, convert in cells:
                value = get(name, _MISSING)
                if value is _MISSING:
                    continue
                if value is not None:
                    if type(value) is not expected:
                        raise bad_value("debezium", event, name, value, expected)
                    if convert is not None:
                        value = convert(value)
                out[name] = value
        except (ValueError, OverflowError) as error:  # an invalid time, a float JSON cannot carry
            raise InvalidEventError(event_origin(event), f"debezium: column {name!r}: {error}") from None
        if whole and len(out) != len(image):
            check_known_columns("debezium", image, event)
        return out

    def encode_row(self, event: RowEvent) -> Message:
        shape = self._shape(event)
        op = event.op
        key_image = event.before if op == DELETE else event.after
        try:
            key = b'{"payload":%b%b}' % (_json(self._image(shape.key_cells, key_image, event, False)), shape.key_schema)  # type: ignore[arg-type]
            if op == INSERT:
                body = b'"op":"c","before":null,"after":' + _json(self._image(shape.cells, event.after, event))  # type: ignore[arg-type]
            elif op == DELETE:
                body = b'"op":"d","after":null,"before":' + _json(self._image(shape.cells, event.before, event))  # type: ignore[arg-type]
            elif self._old_value:
                body = (b'"op":"u","before":' + _json(self._image(shape.cells, event.before, event))  # type: ignore[arg-type]
                        + b',"after":' + _json(self._image(shape.cells, event.after, event)))  # type: ignore[arg-type]
            else:
                body = b'"op":"u","after":' + _json(self._image(shape.cells, event.after, event))  # type: ignore[arg-type]
        except orjson.JSONEncodeError as error:  # a lone surrogate in a string
            raise InvalidEventError(event_origin(event), f"debezium: a value JSON cannot carry: {error}") from None
        commit_ms = event.commit_time_ms if event.commit_time_ms is not None else event.commit_ts >> 18
        value = b'{"payload":{"source":%b%d%b%d%b,"ts_ms":%d,"transaction":null,%b}%b}' % (
            shape.source_head, commit_ms, shape.source_tail, event.commit_ts, self._cluster_tail, self._clock(),
            body, shape.value_schema,
        )
        if self._compress is not None:
            key, value = self._compress(key), self._compress(value)
        size = len(key) + len(value) + MAX_RECORD_OVERHEAD
        if size > self.limit:
            raise MessageTooLargeError(
                f"debezium message of {size} bytes for {event.describe()} exceeds max-message-bytes "
                f"({self.limit} bytes, counting {MAX_RECORD_OVERHEAD} bytes of Kafka record overhead as TiCDC does); "
                "debezium has no large-message-handle-option"
            )
        return key, value

    def pack(self, rows: list[Message]) -> list[Message]:
        return rows

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        return [self.encode_row(event) for event in events]

    # -- DDL and watermarks -------------------------------------------------------------

    def encode_ddl(self, event: DDLEvent) -> Message | None:
        action = ddl_kind.classify(event.query).action
        change_type = _CHANGE_TYPES.get(action)
        if change_type is None:
            return None  # TiCDC logs ErrDDLUnsupportType and skips it (encoder.go EncodeDDLEvent)
        db, table = event.schema, event.table or ""
        key = b'{"payload":{"databaseName":' + _json(db) + b"}"
        if not self.options.debezium_disable_schema:
            key += b',"schema":' + _json(wire.DDL_KEY_SCHEMA)
        key += b"}"
        payload: dict[str, Any] = {
            "source": {
                "version": wire.VERSION, "connector": wire.CONNECTOR, "name": self.options.cluster_id,
                "ts_ms": event.commit_time_ms if event.commit_time_ms is not None else event.commit_ts >> 18,
                "snapshot": "false", "db": db, "table": table, "server_id": 0, "gtid": None, "file": "", "pos": 0,
                "row": 0, "thread": 0, "query": None, "commit_ts": event.commit_ts,
                "cluster_id": self.options.cluster_id,
            },
            "ts_ms": self._clock(),
            "databaseName": db,
            "schemaName": None,
            "ddl": event.query,
            "tableChanges": self._table_changes(event, action, change_type),
        }
        doc: dict[str, Any] = {"payload": payload}
        if not self.options.debezium_disable_schema:
            doc["schema"] = wire.ddl_value_schema(self.options.enable_tidb_extension)
        try:
            value = _json(doc)
        except orjson.JSONEncodeError as error:
            raise InvalidEventError(event.describe(), f"debezium: the DDL JSON cannot carry it: {error}") from None
        if self._compress is not None:
            key, value = self._compress(key), self._compress(value)
        size = len(key) + len(value) + MAX_RECORD_OVERHEAD
        if size > self.limit:
            raise MessageTooLargeError(f"debezium DDL message of {size} bytes exceeds max-message-bytes ({self.limit}): {event.describe()}")
        self._follow(event, action)
        return key, value

    def _table_changes(self, event: DDLEvent, action: int, change_type: str) -> list[dict[str, Any]]:
        db, table = event.schema, event.table
        if not table or action == ddl_kind.TRUNCATE_TABLE:
            return []
        source = renamed_from(event.query, db) if action == ddl_kind.RENAME_TABLE else None
        known = self._known.get(source or (db, table))
        if action == ddl_kind.RENAME_TABLE and source is not None:
            change_id = f'"{source[0]}"."{source[1]}","{db}"."{table}"'
        elif action == ddl_kind.EXCHANGE_TABLE_PARTITION and (other := exchanged_with(event.query, db)):
            change_id = f'"{other[0]}"."{other[1]}"'
        else:
            change_id = f'"{db}"."{table}"'
        if action == ddl_kind.DROP_TABLE:
            return [{"type": change_type, "id": change_id, "table": None}]
        after = table_after(action, event.query, db, table, known)
        created = created_table(event.query, db, table) if action == ddl_kind.CREATE_TABLE else None
        extras = created[1] if created else {}
        described = None
        if after is not None:
            described = {
                "defaultCharsetName": "utf8mb4",
                "primaryKeyColumnNames": list(after.pk),
                "columns": [wire.table_change_column(column, extras.get(column.name)) for column in after.columns],
                "comment": None,
            }
        return [{"type": change_type, "id": change_id, "table": described}]

    def _follow(self, event: DDLEvent, action: int) -> None:
        """Keep the known tables in step with CREATE / RENAME / DROP TABLE."""
        if not event.table:
            return
        key = (event.schema, event.table)
        if action == ddl_kind.CREATE_TABLE:
            created = created_table(event.query, event.schema, event.table)
            if created is not None:
                self._known[key] = created[0]
        elif action == ddl_kind.RENAME_TABLE:
            source = renamed_from(event.query, event.schema)
            if source is not None and source in self._known:
                self._known[key] = self._known.pop(source)
        elif action == ddl_kind.DROP_TABLE:
            self._known.pop(key, None)

    def encode_watermark(self, ts: int) -> Message | None:
        if not self.options.enable_tidb_extension:
            return None
        cluster = self.options.cluster_id
        key: dict[str, Any] = {"payload": {}}
        value: dict[str, Any] = {
            "payload": {
                "source": {
                    "version": wire.VERSION, "connector": wire.CONNECTOR, "name": cluster, "ts_ms": ts >> 18,
                    "snapshot": "false", "db": "", "table": "", "server_id": 0, "gtid": None, "file": "", "pos": 0,
                    "row": 0, "thread": 0, "query": None, "commit_ts": ts, "cluster_id": cluster,
                },
                "ts_ms": self._clock(),
                "transaction": None,
                "op": "m",
            }
        }
        if not self.options.debezium_disable_schema:
            key["schema"] = wire.watermark_key_schema(cluster)
            value["schema"] = wire.watermark_value_schema(cluster, True)
        key_bytes, value_bytes = _json(key), _json(value)
        if self._compress is not None:
            key_bytes, value_bytes = self._compress(key_bytes), self._compress(value_bytes)
        return key_bytes, value_bytes


#: TiCDC's DDL kinds with a Debezium change type (codec.go EncodeDDLEvent).
_CHANGE_TYPES: dict[int, str] = {
    **dict.fromkeys((ddl_kind.CREATE_SCHEMA, ddl_kind.CREATE_TABLE, 60, ddl_kind.CREATE_VIEW), "CREATE"),
    **dict.fromkeys((
        ddl_kind.ADD_COLUMN, ddl_kind.MODIFY_COLUMN, ddl_kind.DROP_COLUMN, ddl_kind.MULTI_SCHEMA_CHANGE,
        ddl_kind.ADD_TABLE_PARTITION, ddl_kind.REMOVE_PARTITIONING, ddl_kind.REORGANIZE_PARTITION,
        ddl_kind.EXCHANGE_TABLE_PARTITION, ddl_kind.ALTER_TABLE_PARTITIONING, ddl_kind.TRUNCATE_TABLE_PARTITION,
        ddl_kind.DROP_TABLE_PARTITION, ddl_kind.REBASE_AUTO_ID, ddl_kind.SET_DEFAULT_VALUE,
        ddl_kind.MODIFY_TABLE_COMMENT, ddl_kind.MODIFY_TABLE_CHARSET_AND_COLLATE,
        ddl_kind.MODIFY_SCHEMA_CHARSET_AND_COLLATE, ddl_kind.ADD_INDEX, ddl_kind.ALTER_INDEX_VISIBILITY,
        ddl_kind.RENAME_INDEX, ddl_kind.RENAME_TABLE, ddl_kind.RENAME_TABLES, ddl_kind.ADD_PRIMARY_KEY,
        ddl_kind.DROP_PRIMARY_KEY,
    ), "ALTER"),
    **dict.fromkeys((
        ddl_kind.DROP_SCHEMA, ddl_kind.DROP_TABLE, ddl_kind.DROP_INDEX, ddl_kind.DROP_VIEW, ddl_kind.TRUNCATE_TABLE,
    ), "DROP"),
}
