"""canal-json, byte for byte as TiCDC writes it: one row per message, key empty.

A row message (ticdc ``pkg/sink/codec/canal/canal_json_encoder.go``,
``newJSONMessageForDML``)::

    {"id":0,"database":D,"table":T,"pkNames":[..],"isDdl":false,"type":"UPDATE",
     "es":E,"ts":B,"sql":"","sqlType":{..},"mysqlType":{..},"old":[{..}]|null,
     "data":[{..}],"_tidb":{"commitTs":N}}

- ``old`` comes before ``data``, as TiCDC writes them; columns in table order;
  ``pkNames`` the primary-key columns in table order (``[]`` when none).
- ``es``: the event's ``commit_time_ms`` when the input gives one, else the
  physical part of the commit ts (``commit_ts >> 18``, TiCDC's
  ``convertToCanalTs``); ``ts``: when the message was built (ms).
- Values are strings or null (ticdc ``formatColumnValue``): integers, year,
  bit, enum index and set bitmask in decimal; float and double as Go's
  ``FormatFloat(v, 'f', -1, 32|64)``; binary strings and blobs as the
  ISO-8859-1 text of their bytes; decimal, dates, times, JSON and text as
  given.
- ``sqlType``: java.sql.Types per column, an unsigned tinyint/smallint/int/
  bigint moved one type up when the row's value does not fit the signed range
  (the new image's value; the old one for a delete).
- ``mysqlType``: TiDB's type name with ``unsigned``/``zerofill``; with
  ``content-compatible`` the full type (``int(11)``, ``decimal(10,2)``,
  ``enum('a','b')``), which also turns on only-output-updated-columns, as in
  TiCDC.
- Strings are escaped as Go's easyjson writer does (``<`` as ``\\u003c``,
  control bytes as ``\\u00XX``; see :mod:`cdcsink.codec.common.gojson`).
- A message counts ``len(key) + len(value) + 36`` (TiCDC's
  ``MaxRecordOverhead``) against ``max-message-bytes``.

DDL messages carry the statement in ``sql`` and null types and images; the
TIDB_WATERMARK message (extension only) has ``es = ts >> 18`` and
``_tidb.watermarkTs``.

Everything that depends only on the table (headers, types, pkNames, each
column's value formatter) is built once per :class:`TableSchema` object; per
row the encoder formats the values and writes one small JSON object per image.

Where the compiled module ``_speedups.c`` is built (and ``CDCSINK_NO_EXTENSIONS``
is not set), ``encode_row`` is its C twin: per table a writer that writes the
whole message into one buffer (text, integers, bytes and nulls itself, any
other value through the column's formatter below). A row it does not take (a
value of the wrong type, a column not in ``columns``, a message over the
limit, ...) goes through the Python code here, the reference, which writes the
same bytes or raises the same error.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import orjson

from cdcsink.codec import Message
from cdcsink.codec.common.ddl_kind import classify
from cdcsink.codec.common.gojson import dumps as go_dumps
from cdcsink.codec.common.gojson import go_escaped
from cdcsink.codec.common.string_values import double_text as _double
from cdcsink.codec.common.string_values import float_text as _float
from cdcsink.codec.common.string_values import text as _text
from cdcsink.codec.common.large import (
    MAX_RECORD_OVERHEAD,
    ClaimCheckStorage,
    compressor,
    refuse_unless_reducible,
    report_reduced,
)
from cdcsink.codec.common.mysql_types import canal_java_type, canal_unsigned_promotion, mysql_type_name
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import BIT, BLOBS, CHARS, DOUBLE, ENUM, FLOAT, GEOMETRY, INTEGERS, SET, YEAR, Column, TableSchema
from cdcsink.errors import InvalidEventError, MessageTooLargeError
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, RowEvent
from cdcsink.speedups import load as load_compiled

#: The compiled row writer (``_speedups.c``), None when not built or disabled.
_compiled = load_compiled("cdcsink.codec.canal_json._speedups")

_TYPES = {INSERT: "INSERT", UPDATE: "UPDATE", DELETE: "DELETE"}
_dumps = orjson.dumps
_MISSING = object()
_ROW = b'%b%d,"ts":%d,"sql":"","sqlType":%b,"mysqlType":%b,"old":%b,"data":[%b]}'
_ROW_WITH_TIDB = b'%b%d,"ts":%d,"sql":"","sqlType":%b,"mysqlType":%b,"old":%b,"data":[%b],"_tidb":{"commitTs":%d%b}}'
#: Shapes kept at most (one per table version seen); the cache is cleared past it.
_MAX_SHAPES = 4096


# --- Values -----------------------------------------------------------------

def _integer(value: Any) -> str:
    if type(value) is int:
        return str(value)
    if type(value) is bool:
        return "1" if value else "0"
    raise TypeError("an integer")


def _binary(value: Any) -> str:
    if type(value) is bytes or type(value) is bytearray:
        return value.decode("latin-1")
    raise TypeError("bytes")


def value_formatter(column: Column) -> Callable[[Any], str]:
    """The function that writes one non-null canonical value of ``column`` as
    canal-json's string; it raises :class:`TypeError` naming what it expected."""
    code = column.tp
    if code in INTEGERS or code in (YEAR, BIT, ENUM, SET):
        return _integer
    if code == FLOAT:
        return _float
    if code == DOUBLE:
        return _double
    if column.binary and (code in CHARS or code in BLOBS or code == GEOMETRY):
        return _binary
    return _text


def canal_value(column: Column, value: Any) -> str | None:
    """One value as canal-json carries it (None for NULL)."""
    return None if value is None else value_formatter(column)(value)


# --- Per-table shape --------------------------------------------------------

class _Columns:
    """One set of columns a message may carry (every column, or the handle key)
    with its pre-serialized ``sqlType`` and ``mysqlType`` objects and the
    function that turns an image into canal-json strings."""

    __slots__ = ("names", "items", "strings", "sql_type", "codes", "promotions", "mysql_type")

    def __init__(self, columns: Sequence[Column], full_types: bool) -> None:
        self.names = tuple(column.name for column in columns)
        #: (name, formatter) per column, in table order.
        self.items = tuple((column.name, value_formatter(column)) for column in columns)
        self.strings = _image_writer(self.items)
        self.codes = {column.name: canal_java_type(column) for column in columns}
        self.sql_type = go_dumps(self.codes) if columns else b"null"
        self.promotions = tuple(
            (column.name, promotion[0], promotion[1])
            for column in columns
            if (promotion := canal_unsigned_promotion(column)) is not None
        )
        types = {column.name: mysql_type_name(column, full_types) for column in columns}
        self.mysql_type = go_dumps(types) if types else b"null"

    def sql_type_for(self, image: dict[str, Any] | None) -> bytes:
        """``sqlType`` for a row: unsigned values above the signed range promote."""
        if not self.promotions or image is None:
            return self.sql_type
        codes = None
        for name, limit, promoted in self.promotions:
            value = image.get(name)
            if type(value) is int and value > limit:
                if codes is None:
                    codes = dict(self.codes)
                codes[name] = promoted
        return self.sql_type if codes is None else go_dumps(codes)

    def compiled_plan(self) -> tuple[Any, ...]:
        """These columns as the compiled row writer reads them: per column its
        name, JSON key, value kind (``_KINDS``), formatter, java type and unsigned
        promotion; then ``sqlType`` and ``mysqlType``."""
        promotions = {name: (limit, promoted) for name, limit, promoted in self.promotions}
        columns = tuple(
            (name, go_dumps(name) + b":", _KINDS.get(formatter, _KIND_OTHER), formatter, self.codes[name],
             *promotions.get(name, (None, None)))
            for name, formatter in self.items
        )
        return columns, self.sql_type, self.mysql_type


class _TableShape:
    """A table's constant parts: per op every byte before ``es``; the column
    sets with their types; the handle-key columns."""

    __slots__ = ("info", "heads", "all", "keys", "has_keys", "writer")

    def __init__(self, info: TableSchema, full_types: bool) -> None:
        self.info = info
        primary = [column.name for column in info.columns if column.primary_key]
        head = (
            b'{"id":0,"database":' + go_dumps(info.schema) + b',"table":' + go_dumps(info.table)
            + b',"pkNames":' + go_dumps(primary) + b',"isDdl":false,"type":"'
        )
        self.heads = {op: head + name.encode() + b'","es":' for op, name in _TYPES.items()}
        self.all = _Columns(info.columns, full_types)
        keys = set(info.pk)
        self.keys = _Columns([column for column in info.columns if column.name in keys], full_types)
        self.has_keys = bool(keys)
        #: The compiled row writer of this table, when in use (see ``CanalJsonEncoder._compiled_writer``).
        self.writer: Any = None


# --- Encoder ----------------------------------------------------------------

class CanalJsonEncoder:
    ddl_to_all_partitions = False
    bootstrap = None  # no table-schema messages
    bootstrap_to_all_partitions = False

    def __init__(self, options: EncoderOptions, use_compiled: bool = True) -> None:
        """``use_compiled=False``: the pure-Python path only, even where the
        compiled row writer is built (the reference the equivalence tests use)."""
        self.options = options
        self._compiled = _compiled if use_compiled else None
        self.limit = options.max_message_bytes
        self.extension = options.enable_tidb_extension
        self._clock = options.clock_ms
        self._full_types = options.content_compatible
        self._shapes: dict[int, _TableShape] = {}
        self._compress = compressor(options.large_message_handle_compression)
        self._large = options.large_message_handle_option
        self._claims = ClaimCheckStorage(options.claim_check_storage_uri) if self._large == "claim-check" else None
        # content-compatible implies only-output-updated-columns, as in TiCDC's codec config.
        self._changed_only = options.only_output_updated_columns or options.content_compatible
        self._delete_keys_only = options.delete_only_output_handle_key_columns
        if self._compiled is not None:
            # encode_row in C: each table's compiled writer; a row one does not take
            # (and an event whose table model cannot be read) goes to _encode_row_py.
            self.encode_row = self._compiled.RowEncoder(self._compiled_writer, self._encode_row_py, RowEvent).encode_row

    def _shape(self, event: RowEvent) -> _TableShape:
        try:
            info = event.table_info
        except ValueError as error:  # columns the table model cannot read (the input decoder checks them first)
            raise InvalidEventError(f"{event.schema}.{event.table} commit_ts={event.commit_ts}", str(error)) from None
        shape = self._shapes.get(id(info))
        if shape is None or shape.info is not info:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            shape = self._shapes[id(info)] = _TableShape(info, self._full_types)
            if self._compiled is not None:
                shape.writer = self._table_writer(shape)
        return shape

    def _compiled_writer(self, event: RowEvent) -> Any:
        """The compiled row writer of the event's table (the C ``encode_row``
        keeps it per table model)."""
        return self._shape(event).writer

    def _table_writer(self, shape: _TableShape) -> Any:
        """A table's compiled row writer: its ``encode(event)`` returns the
        message :meth:`_encode_row_py` writes (compressed when configured), or
        None for a row it leaves to the Python code (a value of the wrong type, a
        column not in ``columns``, a message over the limit, ...)."""
        return self._compiled.RowWriter(  # type: ignore[union-attr]
            (shape.heads[INSERT], shape.heads[UPDATE], shape.heads[DELETE]),
            shape.all.compiled_plan(),
            shape.keys.compiled_plan(),
            shape.has_keys,
            self._delete_keys_only,
            self._changed_only,
            self.extension,
            self._clock,
            self._clock is _WALL_CLOCK,
            self._compress,
            self.limit,
        )

    def _encode_row_py(self, event: RowEvent) -> Message:
        shape = self._shape(event)
        delete_keys = self._delete_keys_only and event.op == DELETE and shape.has_keys
        value = self._message(event, shape, shape.keys if delete_keys else shape.all, None)
        if self._compress is not None:
            value = self._compress(value)
        if len(value) + MAX_RECORD_OVERHEAD > self.limit:
            return self._oversized(event, shape, value)
        return None, value

    def _message(self, event: RowEvent, shape: _TableShape, columns: _Columns, tidb_extra: bytes | None) -> bytes:
        op = event.op
        complete = columns is shape.all
        if op == DELETE:
            image = event.before
            data = _strings(event, columns, image, complete)
            old = b"null"
        else:
            image = event.after
            data = _strings(event, columns, image, complete)
            if op == UPDATE:
                before = _strings(event, columns, event.before, complete)
                if self._changed_only:
                    get = data.get
                    before = {name: text for name, text in before.items() if get(name, _MISSING) != text}
                old = b"[" + _json(before) + b"]"
            else:
                old = b"null"
        commit_ms = event.commit_time_ms
        parts = (
            shape.heads[op],
            commit_ms if commit_ms is not None else event.commit_ts >> 18,
            self._clock(),
            columns.sql_type_for(image) if columns.promotions else columns.sql_type,
            columns.mysql_type,
            old,
            _json(data),
        )
        if self.extension:
            return _ROW_WITH_TIDB % (*parts, event.commit_ts, tidb_extra or b"")
        return _ROW % parts

    def _oversized(self, event: RowEvent, shape: _TableShape, value: bytes) -> Message:
        """A row whose message exceeds the limit, handled as configured: the
        handle-key columns only, flagged ``onlyHandleKey`` or pointing at the full
        message's claim-check location (TiCDC's two cases)."""
        size = len(value) + MAX_RECORD_OVERHEAD
        too_large = (
            f"canal-json message of {size} bytes for {event.describe()} exceeds max-message-bytes "
            f"({self.limit} bytes for key, value and the {MAX_RECORD_OVERHEAD}-byte record overhead)"
        )
        refuse_unless_reducible(self._large, event, too_large)
        location = None
        if self._claims is not None:
            location = self._claims.put(None, value)
            extra = b',"claimCheckLocation":' + go_dumps(location)
        else:
            extra = b',"onlyHandleKey":true'
        reduced = self._message(event, shape, shape.keys, extra)
        if self._compress is not None:
            reduced = self._compress(reduced)
        if len(reduced) + MAX_RECORD_OVERHEAD > self.limit:
            raise MessageTooLargeError(
                f"{too_large}, and so does its {self._large} message ({len(reduced) + MAX_RECORD_OVERHEAD} bytes)"
            )
        report_reduced(event, self._large, size, location, self.options.on_large_message)
        return None, reduced

    #: The pure-Python row encoder, the reference (an encoder using the compiled
    #: code has its own ``encode_row``, set in ``__init__``, which falls back to it).
    encode_row = _encode_row_py

    def pack(self, rows: list[Message]) -> list[Message]:
        return rows

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        return [self.encode_row(event) for event in events]

    def encode_ddl(self, event: DDLEvent) -> Message:
        commit_ms = event.commit_time_ms
        message = (
            b'{"id":0,"database":%b,"table":%b,"pkNames":null,"isDdl":true,"type":"%b","es":%d,"ts":%d,'
            b'"sql":%b,"sqlType":null,"mysqlType":null,"data":null,"old":null%b}'
        ) % (
            go_dumps(event.schema),
            go_dumps(event.table or ""),
            classify(event.query).canal_type.encode(),
            commit_ms if commit_ms is not None else event.commit_ts >> 18,
            self._clock(),
            go_dumps(event.query),
            b',"_tidb":{"commitTs":%d}' % event.commit_ts if self.extension else b"",
        )
        value = self._compress(message) if self._compress is not None else message
        if len(value) + MAX_RECORD_OVERHEAD > self.limit:
            raise MessageTooLargeError(
                f"canal-json DDL message of {len(value) + MAX_RECORD_OVERHEAD} bytes for {event.describe()} "
                f"exceeds max-message-bytes ({self.limit})"
            )
        return None, value

    def encode_watermark(self, ts: int) -> Message | None:
        if not self.extension:
            return None
        value = (
            b'{"id":0,"database":"","table":"","pkNames":null,"isDdl":false,"type":"TIDB_WATERMARK",'
            b'"es":%d,"ts":%d,"sql":"","sqlType":null,"mysqlType":null,"data":null,"old":null,"_tidb":%b}'
        ) % (ts >> 18, self._clock(), b'{"watermarkTs":%d}' % ts)
        return None, self._compress(value) if self._compress is not None else value


def _json(strings: dict[str, str | None]) -> bytes:
    """One image object: orjson, escaped as Go escapes."""
    try:
        return go_escaped(_dumps(strings))
    except TypeError:
        return go_dumps(strings)


#: The options' default clock_ms, ``int(time.time() * 1000)``: the compiled writer
#: reads the same wall clock itself rather than calling it.
_WALL_CLOCK = next(field.default for field in dataclasses.fields(EncoderOptions) if field.name == "clock_ms")
_KIND_OTHER = 3
#: The value kinds the compiled writer writes itself; any other formatter it calls.
_KINDS = {_text: 0, _integer: 1, _binary: 2}


def _image_writer(items: tuple[tuple[str, Callable[[Any], str]], ...]) -> Callable[[dict[str, Any]], dict[str, str | None]]:
    """A function, compiled once per table, that writes an image's values as
    canal-json strings in table column order: one straight-line statement per
    column (text passed through, integers through ``str``, the rest through the
    column's formatter), about three times faster per row than a loop over the
    columns. A value of the wrong type reaches its formatter, which raises
    :class:`TypeError`."""
    lines = ["def write(image):", "    get = image.get", "    out = {}"]
    for index, (name, formatter) in enumerate(items):
        key = repr(name)  # a string literal whatever the name holds
        lines.append(f"    value = get({key}, MISSING)")
        if formatter is _text:
            lines.append(f"    if value is None or type(value) is str: out[{key}] = value")
        elif formatter is _integer:
            lines.append(f"    if type(value) is int: out[{key}] = str(value)")
            lines.append(f"    elif value is None: out[{key}] = None")
        else:
            lines.append(f"    if value is None: out[{key}] = None")
        lines.append(f"    elif value is not MISSING: out[{key}] = FORMATTERS[{index}](value)")
    lines.append("    return out")
    namespace: dict[str, Any] = {"MISSING": _MISSING, "FORMATTERS": tuple(formatter for _, formatter in items)}
    exec(compile("\n".join(lines), "<canal-json image writer>", "exec"), namespace)
    return namespace["write"]  # type: ignore[no-any-return]


def _strings(
    event: RowEvent, columns: _Columns, image: dict[str, Any] | None, complete: bool
) -> dict[str, str | None]:
    """An image's values as canal-json strings, in table column order
    (``complete``: ``columns`` is every column, so the image has no other)."""
    if image is None:
        raise InvalidEventError(event.describe(), f"{event.op} without its {'before' if event.op == DELETE else 'after'} image")
    try:
        out = columns.strings(image)
    except TypeError:
        _refuse_mistyped(event, columns, image)
        raise
    if complete and len(out) < len(image):
        _refuse_undeclared(event, image)
    return out


def _refuse_mistyped(event: RowEvent, columns: _Columns, image: dict[str, Any]) -> None:
    for name, formatter in columns.items:
        value = image.get(name)
        if value is None:
            continue
        try:
            formatter(value)
        except TypeError as expected:
            raise InvalidEventError(
                event.describe(),
                f"column {name!r} ({event.table_info.by_name[name].declared}): expected {expected}, "
                f"got {type(value).__name__} {value!r:.40}",
            ) from None


def _refuse_undeclared(event: RowEvent, image: dict[str, Any]) -> None:
    info = event.table_info
    for name in image:
        if info.column(name) is None:
            raise InvalidEventError(event.describe(), f"column {name!r} is not in columns")
