"""TiCDC open-protocol, written byte for byte as TiCDC writes it.

The reference is ticdc ``pkg/sink/codec/open`` (``codec.go``, ``encoder.go``,
``message.go``), which writes JSON with json-iterator; the older tiflow
encoder (encoding/json) differs in three byte-level ways, listed where they
matter: it sorts columns by name, escapes ``<``, ``>``, ``&`` and
U+2028/U+2029, and omits an empty ``tbl`` from a DDL key.

Row key ``{"ts":commit_ts,"scm":schema,"tbl":table,"t":1}``; row value
``{"u":{...}}`` (insert), ``{"u":{...},"p":{...}}`` (update, ``p`` the old
values) or ``{"d":{...}}`` (delete). Each column, in the table's declared
order, is ``{"t":type code,"h":true (handle key only),"f":flags,"v":value}``
with ``f`` from :mod:`cdcsink.codec.common.flags` and ``v``:

- integers, ``year``, ``bit``: the number; ``enum``: the member index,
  ``set``: the bitmask, both numbers;
- ``float``: the float32 value's shortest digits, ``double`` the float64's
  (:mod:`cdcsink.codec.common.golang`);
- ``decimal``, dates and times, ``json``, text strings: the text;
- ``binary``/``varbinary``: Go's ``strconv.Quote`` of the bytes, unquoted;
- ``blob`` and ``text`` types: base64 of the bytes (text as UTF-8).

DDL: key ``{"ts","scm","tbl","t":2}`` (``tbl`` empty for a schema DDL), value
``{"q":query,"t":action}``. Resolved: key ``{"ts","t":3}`` and an empty value.

Everything that does not depend on the row (flags, type codes, the key after
``ts``, each column's conversion) is computed once per table model.

Where it is built, ``_speedups.c`` writes the rows and frames the messages
(``RowWriter``, ``pack``): the same bytes, byte for byte, as the Python code
here, which stays the reference and takes every row the compiled code
declines (a value of the wrong type or that JSON cannot carry, an unknown
column, an oversized message): those raise or are reduced exactly as here.
"""

from __future__ import annotations

import base64
from typing import Any, Callable, Sequence

import orjson

from cdcsink.codec import Message
from cdcsink.codec.common.refusals import bad_value, check_known_columns, event_origin
from cdcsink.codec.common.ddl_kind import classify
from cdcsink.codec.common.flags import column_flags
from cdcsink.codec.common.golang import format_float32, format_float64, json_iter_escapes, quote
from cdcsink.codec.common.large import ClaimCheckStorage, compressor, refuse_unless_reducible, report_reduced
from cdcsink.codec.open_protocol.message import DDL, ENTRY_PREFIXES, HEADER, LENGTH, RECORD_OVERHEAD, RESOLVED, ROW
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, INTEGERS, JSON, NEWDECIMAL, SET, TIMESTAMP, YEAR,
    Column, TableSchema,
)
from cdcsink.errors import InvalidEventError, MessageTooLargeError
from cdcsink.events import DELETE, INSERT, DDLEvent, RowEvent
from cdcsink.speedups import load

#: The compiled twin of the row path (``_speedups.c``), or None: pure Python.
_speedups = load("cdcsink.codec.open_protocol._speedups")

_dumps = orjson.dumps
_Fragment = orjson.Fragment
_MISSING = object()
#: A one-row message's bytes besides its key and value JSON, as TiCDC counts them.
_ROW_OVERHEAD = len(HEADER) + ENTRY_PREFIXES + RECORD_OVERHEAD


def _float64(value: float) -> Any:
    magnitude = value if value > 0 else -value
    if 1e-4 <= magnitude < 1e16 and not magnitude.is_integer():
        return value  # orjson writes Go's digits here (both shortest, no exponent, no ".0")
    return _Fragment(format_float64(value))


def _float32(value: float) -> Any:
    return _Fragment(format_float32(value))


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _text_base64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


_TEXT_TYPES = frozenset((NEWDECIMAL, DATE, DATETIME, TIMESTAMP, DURATION, JSON))


def _conversion(column: Column) -> tuple[type, Callable[[Any], Any] | None]:
    """The canonical Python type of the column's values and how ``v`` is made from one."""
    tp = column.tp
    if tp in INTEGERS or tp in (YEAR, BIT, ENUM, SET):
        return int, None
    if tp == FLOAT:
        return float, _float32
    if tp == DOUBLE:
        return float, _float64
    if tp in _TEXT_TYPES:
        return str, None
    if tp in CHARS:
        return (bytes, quote) if column.binary else (str, None)
    if tp in BLOBS:
        return (bytes, _base64) if column.binary else (str, _text_base64)
    raise ValueError(f"column {column.name!r}: TiCDC's open-protocol has no form for {column.type_name} values")


#: A column as the hot loop reads it: name, canonical type, conversion, ``t``, ``f``, handle key.
_ColumnShape = tuple[str, type, "Callable[[Any], Any] | None", int, int, bool]


class _TableShape:
    """What the encoder derives from one table model."""

    __slots__ = ("info", "columns", "handle_columns", "key_tail", "error", "whole")

    def __init__(self, info: TableSchema) -> None:
        self.info = info
        self.error: str | None = None
        columns = []
        for column in info.columns:
            try:
                expected, convert = _conversion(column)
            except ValueError as error:
                self.error = str(error)
                expected, convert = object, None
            columns.append((column.name, expected, convert, column.tp, column_flags(column, info), column.primary_key))
        self.columns: tuple[_ColumnShape, ...] = tuple(columns)
        # Handle-key columns in declared order, as TiCDC writes them.
        self.handle_columns: tuple[_ColumnShape, ...] = tuple(c for c in columns if c[5])
        tail = _dumps({"scm": info.schema, "tbl": info.table, "t": ROW})
        self.key_tail = json_iter_escapes(b"," + tail[1:-1])
        # Two ready-made images of all columns (an update needs both, "u" and "p"): a row
        # that has every column only sets each column object's "v" before the dump.
        self.whole = (_WholeImage(self.columns), _WholeImage(self.columns))


class _WholeImage:
    """A reusable ``{name: {"t","h","f","v"}}`` of every column, in declared order."""

    __slots__ = ("doc", "cells")

    def __init__(self, columns: tuple[_ColumnShape, ...]) -> None:
        self.doc: dict[str, dict[str, Any]] = {}
        cells = []
        for name, expected, convert, tp, flags, handle in columns:
            cell = {"t": tp, "h": True, "f": flags, "v": None} if handle else {"t": tp, "f": flags, "v": None}
            self.doc[name] = cell
            cells.append((name, expected, convert, cell))
        self.cells = tuple(cells)


def _plan(shape: _TableShape) -> Any:
    """The compiled row writer's view of a table (``_speedups.Plan``): each column's
    JSON up to its value, written here by the same dump as the Python path's; None
    when a column name cannot be written (the Python path then raises its error)."""
    assert _speedups is not None
    kinds = {
        (int, None): _speedups.KIND_INT,
        (float, _float32): _speedups.KIND_FLOAT32,
        (float, _float64): _speedups.KIND_FLOAT64,
        (str, None): _speedups.KIND_TEXT,
        (bytes, quote): _speedups.KIND_QUOTE,
        (bytes, _base64): _speedups.KIND_BASE64,
        (str, _text_base64): _speedups.KIND_TEXT_BASE64,
    }
    # Conversions the C code calls back for the values it does not write itself.
    callbacks = {_float32: format_float32, _float64: format_float64, quote: quote}
    columns = []
    for name, expected, convert, tp, flags, handle in shape.columns:
        kind = kinds.get((expected, convert))
        if kind is None:
            return None
        cell = {"t": tp, "h": True, "f": flags, "v": None} if handle else {"t": tp, "f": flags, "v": None}
        try:
            doc = json_iter_escapes(_dumps({name: cell}))
        except orjson.JSONEncodeError:
            return None
        prefix = doc[1 : -len(b"null}}")]  # '"name":{"t":..,"f":..,"v":'
        columns.append((name, prefix, kind, callbacks.get(convert), tp, handle))
    return _speedups.Plan(shape.info, shape.key_tail, tuple(columns))


class OpenProtocolEncoder:
    """``use_compiled=False``: the pure-Python rows and framing even where the
    compiled twin is built (the reference it is tested against)."""

    ddl_to_all_partitions = True
    bootstrap = None  # no table-schema messages
    bootstrap_to_all_partitions = False

    def __init__(self, options: EncoderOptions, use_compiled: bool = True) -> None:
        self.options = options
        self.limit = options.max_message_bytes
        self.batch_rows = options.max_batch_size
        self._shapes: dict[int, _TableShape] = {}
        self._compress = compressor(options.large_message_handle_compression)
        self._large = options.large_message_handle_option
        self._claims = ClaimCheckStorage(options.claim_check_storage_uri) if self._large == "claim-check" else None
        self._changed_only = options.only_output_updated_columns
        self._delete_keys_only = options.delete_only_output_handle_key_columns
        self._pack_compiled = None
        if use_compiled and _speedups is not None:
            self._writer = _speedups.RowWriter(
                self._plan,
                self._encode_row_py,
                _differs,
                self._compress,
                _clamp(self.limit),
                _ROW_OVERHEAD,
                self._changed_only,
                self._delete_keys_only,
            )
            # The compiled writer, which hands the rows it does not take to _encode_row_py.
            self.encode_row = self._writer.encode_row  # type: ignore[method-assign]
            self._pack_compiled = _speedups.pack
            self.pack = self._pack_compiled_or_py  # type: ignore[method-assign]

    def _plan(self, event: RowEvent) -> Any:
        return _plan(self._shape(event))

    def _shape(self, event: RowEvent) -> _TableShape:
        try:
            info = event.table_info
        except ValueError as error:  # columns the table model cannot read
            raise InvalidEventError(event_origin(event), f"open-protocol: {error}") from None
        shape = self._shapes.get(id(info))
        if shape is None or shape.info is not info:
            if len(self._shapes) >= 4096:
                self._shapes.clear()
            shape = self._shapes[id(info)] = _TableShape(info)
        if shape.error is not None:
            raise InvalidEventError(event_origin(event), f"open-protocol: {shape.error}")
        return shape

    # -- rows ------------------------------------------------------------------

    def _image(
        self, columns: tuple[_ColumnShape, ...], image: dict[str, Any], event: RowEvent, whole: bool = True
    ) -> dict[str, Any]:
        """The column objects of ``image`` in declared order; ``whole``: ``columns``
        are all of the table's, so an image column not among them is an error."""
        out: dict[str, Any] = {}
        get = image.get
        name = ""
        try:
            for name, expected, convert, tp, flags, handle in columns:
                value = get(name, _MISSING)
                if value is _MISSING:
                    continue
                if value is not None:
                    if type(value) is not expected:
                        raise bad_value("open-protocol", event, name, value, expected)
                    if convert is not None:
                        value = convert(value)
                out[name] = {"t": tp, "h": True, "f": flags, "v": value} if handle else {"t": tp, "f": flags, "v": value}
        except ValueError as error:  # a float that JSON cannot carry (NaN, ±Inf)
            raise InvalidEventError(event_origin(event), f"open-protocol: column {name!r}: {error}") from None
        if whole and len(out) != len(image):
            check_known_columns("open-protocol", image, event)
        return out

    def _whole_image(self, shape: _TableShape, slot: int, image: dict[str, Any], event: RowEvent) -> dict[str, Any]:
        """:meth:`_image` of all the table's columns, written into a ready-made image
        (valid until the next row is encoded); a row that lacks a column takes the
        general path."""
        whole = shape.whole[slot]
        cells = whole.cells
        if len(image) != len(cells):
            return self._image(shape.columns, image, event)
        get = image.get
        name = ""
        try:
            for name, expected, convert, cell in cells:
                value = get(name, _MISSING)
                if value is not None:
                    if type(value) is not expected:
                        if value is _MISSING:
                            return self._image(shape.columns, image, event)
                        raise bad_value("open-protocol", event, name, value, expected)
                    if convert is not None:
                        value = convert(value)
                cell["v"] = value
        except ValueError as error:  # a float that JSON cannot carry (NaN, ±Inf)
            raise InvalidEventError(event_origin(event), f"open-protocol: column {name!r}: {error}") from None
        return whole.doc

    def _changed_image(
        self, columns: tuple[_ColumnShape, ...], before: dict[str, Any], after: dict[str, Any], event: RowEvent
    ) -> dict[str, Any]:
        """only-output-updated-columns: the old value of each column the update
        changed (ticdc ``writeUpdatedColumnFieldValues``): a column NULL before and
        after is left out, one that became non-NULL is written as NULL."""
        changed = {}
        for column in columns:
            name = column[0]
            old, new = before.get(name, _MISSING), after.get(name, _MISSING)
            if old is _MISSING:
                continue
            if old is None:
                if new is None or new is _MISSING:
                    continue
            elif new is not None and new is not _MISSING and not _differs(column[3], old, new):
                continue
            changed[name] = old
        return self._image(columns, changed, event, whole=False)

    def _value_doc(self, shape: _TableShape, event: RowEvent, handle_only: bool = False) -> dict[str, Any]:
        """``{"u"|"d": ..., "p": ...}``; ``handle_only``: the handle-key columns alone
        (a reduced large message)."""
        if handle_only:
            columns = shape.handle_columns
            if event.op == DELETE:
                return {"d": self._image(columns, event.before, event, False)}  # type: ignore[arg-type]
            if event.op == INSERT:
                return {"u": self._image(columns, event.after, event, False)}  # type: ignore[arg-type]
            after = self._image(columns, event.after, event, False)  # type: ignore[arg-type]
        else:
            columns = shape.columns
            if event.op == DELETE:
                if self._delete_keys_only and shape.handle_columns:
                    return {"d": self._image(shape.handle_columns, event.before, event, False)}  # type: ignore[arg-type]
                return {"d": self._whole_image(shape, 0, event.before, event)}  # type: ignore[arg-type]
            if event.op == INSERT:
                return {"u": self._whole_image(shape, 0, event.after, event)}  # type: ignore[arg-type]
            after = self._whole_image(shape, 0, event.after, event)  # type: ignore[arg-type]
        if self._changed_only:
            old = self._changed_image(columns, event.before, event.after, event)  # type: ignore[arg-type]
        elif handle_only:
            old = self._image(columns, event.before, event, False)  # type: ignore[arg-type]
        else:
            old = self._whole_image(shape, 1, event.before, event)  # type: ignore[arg-type]
        return {"u": after, "p": old}

    def _encode_row_py(self, event: RowEvent) -> tuple[bytes, bytes]:
        """One row's key and value JSON (without length prefixes)."""
        shape = self._shape(event)
        key = b'{"ts":%d%s}' % (event.commit_ts, shape.key_tail)
        try:
            value = json_iter_escapes(_dumps(self._value_doc(shape, event)))
        except orjson.JSONEncodeError as error:  # a string with a lone surrogate, an int past 64 bits
            raise InvalidEventError(event_origin(event), f"open-protocol: a value JSON cannot carry: {error}") from None
        if self._compress is not None:
            value = self._compress(value)
        if len(key) + len(value) + _ROW_OVERHEAD > self.limit:
            return self._oversized(shape, event, key, value)
        return key, value

    def _oversized(self, shape: _TableShape, event: RowEvent, key: bytes, value: bytes) -> tuple[bytes, bytes]:
        """A row whose one-row message exceeds the limit, handled as configured."""
        size = len(key) + len(value) + _ROW_OVERHEAD
        too_large = (
            f"open-protocol message of {size} bytes for {event.describe()} "
            f"exceeds max-message-bytes ({self.limit} bytes, counting {_ROW_OVERHEAD} bytes of framing "
            "and Kafka record overhead as TiCDC does)"
        )
        refuse_unless_reducible(self._large, event, too_large)
        location = None
        base = b'{"ts":%d%s' % (event.commit_ts, shape.key_tail)
        if self._claims is not None:
            location = self._claims.put(HEADER + LENGTH.pack(len(key)) + key, LENGTH.pack(len(value)) + value)
            # As ticdc writes it: the handle-key flag, then its reset, then the location.
            reduced_key = base + b',"ohk":true,"ohk":false,"ccl":' + json_iter_escapes(_dumps(location)) + b"}"
        else:
            reduced_key = base + b',"ohk":true}'
        reduced = json_iter_escapes(_dumps(self._value_doc(shape, event, handle_only=True)))
        if self._compress is not None:
            reduced = self._compress(reduced)
        if len(reduced_key) + len(reduced) + _ROW_OVERHEAD > self.limit:
            raise MessageTooLargeError(f"{too_large}, and so does its {self._large} message")
        report_reduced(event, self._large, size, location, self.options.on_large_message)
        return reduced_key, reduced

    encode_row = _encode_row_py

    def _pack_compiled_or_py(self, rows: list[Message]) -> list[Message]:
        """:meth:`pack` by the compiled framing, which takes lists of (bytes, bytes)."""
        packed = self._pack_compiled(  # type: ignore[misc]
            rows, _clamp(self.limit), _clamp(self.batch_rows), len(HEADER) + RECORD_OVERHEAD
        )
        return packed if packed is not None else self._pack_py(rows)  # type: ignore[no-any-return]

    def _pack_py(self, rows: list[Message]) -> list[Message]:
        """Length-prefixed entries, as ticdc's ``pushMessage`` batches them: a new
        message when ``max-batch-size`` rows are in the current one, or when the
        next entry would take it past max-message-bytes (record overhead included)."""
        limit, batch_rows = self.limit, self.batch_rows
        out: list[Message] = []
        keys: list[bytes] = [HEADER]
        values: list[bytes] = []
        empty = len(HEADER) + RECORD_OVERHEAD
        size = empty
        count = 0
        for key, value in rows:
            entry = ENTRY_PREFIXES + len(key) + len(value)  # type: ignore[arg-type]
            if count and (count >= batch_rows or size + entry > limit):
                out.append((b"".join(keys), b"".join(values)))
                keys, values, size, count = [HEADER], [], empty, 0
            keys += (LENGTH.pack(len(key)), key)  # type: ignore[arg-type]
            values += (LENGTH.pack(len(value)), value)
            size += entry
            count += 1
        if count:
            out.append((b"".join(keys), b"".join(values)))
        return out

    pack = _pack_py

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        return self.pack([self.encode_row(event) for event in events])

    # -- DDL and resolved ---------------------------------------------------------

    def encode_ddl(self, event: DDLEvent) -> Message:
        key = json_iter_escapes(_dumps({"ts": event.commit_ts, "scm": event.schema, "tbl": event.table or "", "t": DDL}))
        value = json_iter_escapes(_dumps({"q": event.query, "t": classify(event.query).action}))
        if self._compress is not None:
            value = self._compress(value)
        message = (HEADER + LENGTH.pack(len(key)) + key, LENGTH.pack(len(value)) + value)
        size = len(message[0]) + len(message[1]) + RECORD_OVERHEAD
        if size > self.limit:
            raise MessageTooLargeError(
                f"open-protocol DDL message of {size} bytes exceeds max-message-bytes ({self.limit}): {event.describe()}"
            )
        return message

    def encode_watermark(self, ts: int) -> Message | None:
        key = b'{"ts":%d,"t":%d}' % (ts, RESOLVED)
        return HEADER + LENGTH.pack(len(key)) + key, LENGTH.pack(0)


def _clamp(number: int) -> int:
    """A limit as the compiled code takes it (a C long long); beyond +-2**62 no
    message size or row count can reach it, so the result is the same."""
    return max(-(2**62), min(number, 2**62))



def _differs(tp: int, old: Any, new: Any) -> bool:
    """Whether an update changed a value, as ticdc compares it (a decimal by its
    number, ``1.0`` = ``1.00``; everything else by its stored value)."""
    if tp == NEWDECIMAL and type(old) is str and type(new) is str and old != new:
        from decimal import Decimal, InvalidOperation

        try:
            return Decimal(old) != Decimal(new)
        except InvalidOperation:
            return True
    return type(old) is not type(new) or old != new
