"""The simple protocol (JSON), written as TiCDC writes it.

One message per row, key empty (ticdc ``pkg/sink/codec/simple/encoder.go``,
``message.go``)::

    {"version":1,"database":D,"table":T,"type":"UPDATE","commitTs":N,"buildTs":B,
     "schemaVersion":V,"data":{..},"old":{..}}

- ``data`` is the new image (insert, update), ``old`` the old one (update,
  delete); each a map of every column the image holds, keys sorted.
- Values are strings or null (ticdc ``encodeValue``): integers, ``year``,
  ``bit``, the enum member's index and the set's bitmask in decimal; float and
  double as Go's ``FormatFloat(v, 'f', -1, 32|64)``; binary strings and blobs
  as base64 of their bytes; decimals, dates, times, JSON and text as they
  are; a ``timestamp`` as ``{"location": "UTC", "value": text}``.
- ``schemaVersion`` names the table schema the row is written in: the
  ``version`` of the bootstrap message that describes it (see
  :mod:`cdcsink.codec.simple.message`). ``buildTs`` is when the message was built.

Bootstrap messages (``{"version":1,"type":"BOOTSTRAP","commitTs":0,
"buildTs":B,"tableSchema":{..}}``) tell a consumer the table schema its rows
are written in. :meth:`SimpleEncoder.bootstrap` says, per row, whether one
must go out first, as TiCDC's bootstrap worker decides (ticdc
``pkg/sink/codec/bootstraper.go``): before a table's first row; again once
``send-bootstrap-in-msg-count`` rows of the table went out or
``send-bootstrap-interval-in-sec`` passed since the last one; and, since a
cdcsink DDL message cannot describe the table after it, before the first row
written in a new table schema.

DDL messages carry the statement in ``sql``, the type TiCDC's ``getDDLType``
gives its action, and a ``tableSchema`` with the schema and table names and
no columns. Watermarks: ``{"version":1,"type":"WATERMARK","commitTs":N,"buildTs":B}``.

A message counts ``len(value) + 36`` against max-message-bytes; a row over it
is handled by ``large-message-handle-option`` as TiCDC does: only the
handle-key columns, with ``"handleKeyOnly":true`` and, for claim-check, the
full message's ``claimCheckLocation``.
"""

from __future__ import annotations

import base64
from typing import Any, Callable, Sequence

import orjson

from cdcsink.codec import Message
from cdcsink.codec.common.string_values import double_text as _double
from cdcsink.codec.common.string_values import float_text as _float
from cdcsink.codec.common.string_values import text as _text
from cdcsink.codec.common.large import (
    MAX_RECORD_OVERHEAD, ClaimCheckStorage, compressor, refuse_unless_reducible, report_reduced,
)
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DOUBLE, ENUM, FLOAT, GEOMETRY, INTEGERS, SET, TIMESTAMP, YEAR, Column, TableSchema,
)
from cdcsink.codec.simple.message import (
    BOOTSTRAP, TIMESTAMP_LOCATION, VERSION, WATERMARK, ddl_type, dumps, go_escaped, table_schema_doc,
)
from cdcsink.errors import InvalidEventError, MessageTooLargeError
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, RowEvent

_TYPES = {INSERT: b"INSERT", UPDATE: b"UPDATE", DELETE: b"DELETE"}
_MISSING = object()
_dumps = orjson.dumps


# --- Values ---------------------------------------------------------------------

def _integer(value: Any) -> str:
    if type(value) is int:
        return str(value)
    raise TypeError("an integer")


def _binary(value: Any) -> str:
    if type(value) is bytes or type(value) is bytearray:
        return base64.b64encode(value).decode("ascii")
    raise TypeError("bytes")


def _timestamp(value: Any) -> dict[str, str]:
    if type(value) is str:
        return {"location": TIMESTAMP_LOCATION, "value": value}
    raise TypeError("a string")


def _no_value(value: Any) -> str:
    raise TypeError("NULL (TiCDC's simple protocol has no form for spatial values)")


def value_writer(column: Column) -> Callable[[Any], Any]:
    """How one non-null canonical value of ``column`` is written (:class:`TypeError`
    names what it expected)."""
    tp = column.tp
    if tp in INTEGERS or tp in (YEAR, BIT, ENUM, SET):
        return _integer
    if tp == FLOAT:
        return _float
    if tp == DOUBLE:
        return _double
    if tp == TIMESTAMP:
        return _timestamp
    if tp == GEOMETRY:
        return _no_value
    if column.binary and (tp in CHARS or tp in BLOBS):
        return _binary
    return _text


# --- Per-table shape ------------------------------------------------------------

class _TableShape:
    """What the encoder derives once from a table model: the schema document and
    its version, the bytes before ``commitTs`` per op, and the columns in key order."""

    __slots__ = ("info", "schema_doc", "version", "heads", "columns", "keys", "schema_json")

    def __init__(self, info: TableSchema) -> None:
        self.info = info
        self.schema_doc = table_schema_doc(info)
        self.version: int = self.schema_doc["version"]
        self.schema_json = dumps(self.schema_doc)
        head = b'{"version":%d,"database":%b,"table":%b,"type":"' % (VERSION, dumps(info.schema), dumps(info.table))
        self.heads = {op: head + name + b'","commitTs":' for op, name in _TYPES.items()}
        ordered = sorted(info.columns, key=lambda column: column.name)
        #: (name, writer), sorted by name as Go writes a map.
        self.columns = tuple((column.name, value_writer(column)) for column in ordered)
        keys = set(info.pk)
        self.keys = tuple(item for item in self.columns if item[0] in keys)


class _BootstrapState:
    """When a table's last bootstrap went out, in which schema, and the rows since."""

    __slots__ = ("version", "sent_ms", "rows")

    def __init__(self, version: int, sent_ms: int) -> None:
        self.version = version
        self.sent_ms = sent_ms
        self.rows = 0


# --- Encoder ----------------------------------------------------------------------

class SimpleEncoder:
    ddl_to_all_partitions = True

    def __init__(self, options: EncoderOptions) -> None:
        self.options = options
        self.limit = options.max_message_bytes
        self._clock = options.clock_ms
        self._shapes: dict[int, _TableShape] = {}
        self._compress = compressor(options.large_message_handle_compression)
        self._large = options.large_message_handle_option
        self._claims = ClaimCheckStorage(options.claim_check_storage_uri) if self._large == "claim-check" else None
        self.bootstrap_to_all_partitions = options.send_bootstrap_to_all_partition
        self._interval_ms = options.send_bootstrap_interval_in_sec * 1000
        self._every_rows = options.send_bootstrap_in_msg_count
        self._bootstraps: dict[tuple[str, str], _BootstrapState] = {}

    def _shape(self, event: RowEvent) -> _TableShape:
        try:
            info = event.table_info
        except ValueError as error:
            raise InvalidEventError(_origin(event), f"simple: {error}") from None
        shape = self._shapes.get(id(info))
        if shape is None or shape.info is not info:
            if len(self._shapes) >= 4096:
                self._shapes.clear()
            shape = self._shapes[id(info)] = _TableShape(info)
        return shape

    # -- bootstrap -------------------------------------------------------------------

    def bootstrap(self, event: RowEvent) -> Message | None:
        """The bootstrap message to send to the row's topic before this row, or None.
        Called once per row, in order (it counts the table's rows)."""
        shape = self._shape(event)
        key = (event.schema, event.table)
        state = self._bootstraps.get(key)
        now = self._clock()
        if (
            state is not None
            and state.version == shape.version
            and state.rows < self._every_rows
            and now - state.sent_ms < self._interval_ms
        ):
            state.rows += 1
            return None
        message = self.encode_bootstrap(shape.info, now)
        state = self._bootstraps[key] = _BootstrapState(shape.version, now)
        state.rows = 1
        return message

    def encode_bootstrap(self, info: TableSchema, build_ms: int | None = None) -> Message:
        """A bootstrap message describing ``info``."""
        shape = self._shapes.get(id(info))
        schema_json = shape.schema_json if shape is not None and shape.info is info else dumps(table_schema_doc(info))
        value = b'{"version":%d,"type":"%b","commitTs":0,"buildTs":%d,"tableSchema":%b}' % (
            VERSION, BOOTSTRAP.encode(), self._clock() if build_ms is None else build_ms, schema_json,
        )
        return None, self._checked(self._compressed(value), f"bootstrap message for {info.schema}.{info.table}")

    # -- rows --------------------------------------------------------------------------

    def encode_row(self, event: RowEvent) -> Message:
        shape = self._shape(event)
        value = self._compressed(self._message(event, shape, shape.columns, b""))
        if len(value) + MAX_RECORD_OVERHEAD > self.limit:
            return self._oversized(event, shape, value)
        return None, value

    def _message(self, event: RowEvent, shape: _TableShape, columns: tuple[tuple[str, Any], ...], extra: bytes) -> bytes:
        op = event.op
        parts = [shape.heads[op], b"%d,\"buildTs\":%d,\"schemaVersion\":%d" % (event.commit_ts, self._clock(), shape.version), extra]
        if op != DELETE:
            parts += (b',"data":', self._image(event, shape, columns, event.after, "after"))
        if op != INSERT:
            parts += (b',"old":', self._image(event, shape, columns, event.before, "before"))
        parts.append(b"}")
        return b"".join(parts)

    def _image(
        self, event: RowEvent, shape: _TableShape, columns: tuple[tuple[str, Any], ...],
        image: dict[str, Any] | None, which: str,
    ) -> bytes:
        """An image as a map of the written values, keys sorted (``columns``: all the
        table's, or its handle key for a reduced large message)."""
        if image is None:
            raise InvalidEventError(_origin(event), f"simple: {event.op} without its {which} image")
        out: dict[str, Any] = {}
        get = image.get
        name = ""
        try:
            for name, write in columns:
                value = get(name, _MISSING)
                if value is _MISSING:
                    continue
                out[name] = None if value is None else write(value)
        except TypeError as expected:
            value = image.get(name)
            column = event.table_info.column(name)
            raise InvalidEventError(
                _origin(event),
                f"simple: column {name!r} ({column.type_name if column else '?'}): expected {expected}, "
                f"got {type(value).__name__} {value!r:.40}",
            ) from None
        if len(out) < len(image) and columns is shape.columns:
            for column_name in image:
                if event.table_info.column(column_name) is None:
                    raise InvalidEventError(_origin(event), f"simple: column {column_name!r} is not in columns")
        try:
            return go_escaped(_dumps(out))
        except TypeError:
            return dumps(out)

    def _oversized(self, event: RowEvent, shape: _TableShape, value: bytes) -> Message:
        size = len(value) + MAX_RECORD_OVERHEAD
        too_large = (
            f"simple message of {size} bytes for {event.describe()} exceeds max-message-bytes "
            f"({self.limit} bytes for key, value and the {MAX_RECORD_OVERHEAD}-byte record overhead)"
        )
        refuse_unless_reducible(self._large, event, too_large)
        location = None
        extra = b',"handleKeyOnly":true'
        if self._claims is not None:
            location = self._claims.put(None, value)
            extra = b',"claimCheckLocation":' + dumps(location) + extra
        reduced = self._compressed(self._message(event, shape, shape.keys, extra))
        if len(reduced) + MAX_RECORD_OVERHEAD > self.limit:
            raise MessageTooLargeError(
                f"{too_large}, and so does its {self._large} message ({len(reduced) + MAX_RECORD_OVERHEAD} bytes)"
            )
        report_reduced(event, self._large, size, location, self.options.on_large_message)
        return None, reduced

    def pack(self, rows: list[Message]) -> list[Message]:
        return rows

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        return [self.encode_row(event) for event in events]

    # -- DDL and watermarks --------------------------------------------------------------

    def encode_ddl(self, event: DDLEvent) -> Message:
        schema_doc = {"schema": event.schema, "table": event.table or "", "tableID": 0, "version": event.commit_ts,
                      "columns": [], "indexes": []}
        value = b'{"version":%d,"type":"%b","sql":%b,"commitTs":%d,"buildTs":%d,"tableSchema":%b}' % (
            VERSION, ddl_type(event.query).encode(), dumps(event.query), event.commit_ts, self._clock(), dumps(schema_doc),
        )
        return None, self._checked(self._compressed(value), f"DDL message for {event.describe()}")

    def encode_watermark(self, ts: int) -> Message | None:
        value = b'{"version":%d,"type":"%b","commitTs":%d,"buildTs":%d}' % (VERSION, WATERMARK.encode(), ts, self._clock())
        return None, self._compressed(value)

    # -- helpers ---------------------------------------------------------------------

    def _compressed(self, value: bytes) -> bytes:
        return self._compress(value) if self._compress is not None else value

    def _checked(self, value: bytes, what: str) -> bytes:
        size = len(value) + MAX_RECORD_OVERHEAD
        if size > self.limit:
            raise MessageTooLargeError(f"simple {what}: {size} bytes exceed max-message-bytes ({self.limit})")
        return value


def _origin(event: RowEvent) -> str:
    where = f"{event.schema}.{event.table} commit_ts={event.commit_ts}"
    return f"{where} (input line {event.line})" if event.line else where
