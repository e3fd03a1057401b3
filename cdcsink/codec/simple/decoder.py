"""The simple protocol read back as TiCDC's consumer reads it.

The rules are ticdc ``pkg/sink/codec/simple/decoder.go``:

- A message with ``data`` or ``old`` is a row (its ``type`` must be INSERT,
  UPDATE or DELETE); ``WATERMARK`` is a resolved ts; anything else is a DDL
  or, without ``sql``, a bootstrap message. Both of the latter store the
  table schemas they carry (``tableSchema``, ``preTableSchema``), keyed by
  schema, table and ``version``.
- A row is read in the table schema its ``schemaVersion`` names. When that
  schema has not been seen, TiCDC's decoder holds the row until a bootstrap
  or DDL message brings it: so does this one with
  ``hold_rows_without_schema`` (the held rows come back after that message's
  events); otherwise such a row is a :class:`MessageDecodeError`.
- Values are strings (a ``timestamp`` an object with ``value``), read as
  ``formatValue`` reads them: integers with ``ParseInt`` (``ParseUint`` for
  an unsigned ``bigint``), ``bit``, enum indexes and set bitmasks as
  unsigned, float and double with ``ParseFloat``, binary strings and blobs
  from base64; decimals, dates, times and JSON must be well formed.
- An update's ``old`` lacks the columns it did not change only when the
  encoder trimmed it: each takes its new value. A ``claimCheckLocation``
  message is read from the claim-check file; a ``handleKeyOnly`` message
  decodes to its handle-key columns (a consumer with the upstream database
  would query the rest).

Stricter than TiCDC (which would store what it cannot check): a value out of
its column type's range, and a column the table schema does not have, fail.

Values come back in cdcsink's canonical forms, so a row encoded by
:class:`~cdcsink.codec.simple.encoder.SimpleEncoder` decodes to the same row.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Callable

import orjson

from cdcsink.codec.common.large import decompress, read_claim_check
from cdcsink.codec.common.text_values import (
    check_date_only, check_datetime, check_decimal, check_duration, check_json, parse_double, parse_float32,
    parse_int, parse_uint,
)
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, INT24, JSON, LONG, LONGLONG, NEWDECIMAL, SET,
    SHORT, TIMESTAMP, TINY, YEAR, Column, TableSchema,
)
from cdcsink.codec.simple.message import (
    DELETE as DELETE_TYPE, INSERT as INSERT_TYPE, UPDATE as UPDATE_TYPE, WATERMARK, SchemaError, table_from_doc,
)
from cdcsink.errors import MessageDecodeError
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, Event, ResolvedEvent, RowEvent

_OPS = {INSERT_TYPE: INSERT, UPDATE_TYPE: UPDATE, DELETE_TYPE: DELETE}
#: Integer types: (signed range, unsigned range).
_BOUNDS = {
    TINY: ((-(2**7), 2**7 - 1), (0, 2**8 - 1)), SHORT: ((-(2**15), 2**15 - 1), (0, 2**16 - 1)),
    INT24: ((-(2**23), 2**23 - 1), (0, 2**24 - 1)), LONG: ((-(2**31), 2**31 - 1), (0, 2**32 - 1)),
    LONGLONG: ((-(2**63), 2**63 - 1), (0, 2**64 - 1)),
}

SchemaKey = tuple[str, str, int]


class SimpleDecoder:
    """Decodes simple-protocol messages into cdcsink events, keeping the table
    schemas they announce (every version seen, as TiCDC's memo does)."""

    def __init__(self, options: EncoderOptions | None = None, *, hold_rows_without_schema: bool = False) -> None:
        self.compression = options.large_message_handle_compression if options is not None else "none"
        self.hold = hold_rows_without_schema
        self._tables: dict[SchemaKey, TableSchema] = {}
        self._readers: dict[int, tuple[TableSchema, tuple[tuple[str, Column, Callable[[Any], Any]], ...]]] = {}
        #: Rows waiting for their table schema (hold mode), in arrival order.
        self._held: list[dict[str, Any]] = []

    @property
    def held(self) -> int:
        """Rows waiting for a bootstrap or DDL message with their table schema."""
        return len(self._held)

    def known(self, key: SchemaKey) -> bool:
        return key in self._tables

    # -- messages ---------------------------------------------------------------

    def decode(self, key: bytes | None, value: bytes) -> list[Event]:
        message = self._load(value)
        if _is_row(message):
            schema_key = _schema_key(message)
            table = self._tables.get(schema_key)
            if table is None:
                if not self.hold:
                    raise MessageDecodeError(_missing(schema_key))
                self._held.append(message)
                return []
            return [self._row(message, table)]
        kind = message.get("type")
        if kind == WATERMARK:
            return [ResolvedEvent(_uint64(message, "commitTs"))]
        events: list[Event] = []
        ddl = self._schema_message(message)
        if ddl is not None:
            events.append(ddl)
        if self._held:
            events += self._release()
        return events

    def learn(self, value: bytes) -> SchemaKey | None:
        """Store the table schemas a message carries without decoding anything
        else (reading back for a schema); a row gives the schema it needs when
        that is not known yet. Messages that do not parse are skipped."""
        try:
            message = self._load(value)
            if _is_row(message):
                schema_key = _schema_key(message)
                return None if schema_key in self._tables else schema_key
            if message.get("type") != WATERMARK:
                self._schema_message(message)
        except (MessageDecodeError, ValueError):
            pass
        return None

    def _load(self, value: bytes) -> dict[str, Any]:
        try:
            message = orjson.loads(decompress(self.compression, value))
        except orjson.JSONDecodeError as error:
            raise MessageDecodeError(f"simple message is not JSON: {error}") from None
        except Exception as error:  # a value that does not decompress
            raise MessageDecodeError(f"simple message does not decompress as {self.compression}: {error}") from None
        if type(message) is not dict:
            raise MessageDecodeError("simple message is not a JSON object")
        return message

    def _schema_message(self, message: dict[str, Any]) -> DDLEvent | None:
        """Store the schemas of a DDL or bootstrap message; the DDL event, if a DDL."""
        query = message.get("sql")
        if query is not None and type(query) is not str:
            raise MessageDecodeError("simple DDL message: sql is not a string")
        tables = []
        for field in ("tableSchema", "preTableSchema"):
            doc = message.get(field)
            if doc is None:
                continue
            try:
                table, version = table_from_doc(doc, field)
            except SchemaError as error:
                raise MessageDecodeError(f"simple message: {error}") from None
            tables.append(table)
            if table.schema and table.table and table.columns:
                self._tables[(table.schema, table.table, version)] = table
        if not query:
            return None  # a bootstrap message (TiCDC's decoder gives a DDL without a query)
        schema = tables[0].schema if tables else ""
        table_name = tables[0].table if tables else ""
        return DDLEvent(schema, table_name or None, _uint64(message, "commitTs"), query)

    def _release(self) -> list[Event]:
        released: list[Event] = []
        waiting = []
        for message in self._held:
            table = self._tables.get(_schema_key(message))
            if table is None:
                waiting.append(message)
            else:
                released.append(self._row(message, table))
        self._held = waiting
        return released

    # -- rows ---------------------------------------------------------------------

    def _row(self, message: dict[str, Any], table: TableSchema) -> RowEvent:
        kind = message.get("type")
        op = _OPS.get(kind) if type(kind) is str else None
        where = f"{table.schema}.{table.table}"
        if op is None:
            raise MessageDecodeError(f"simple {where}: unknown row type for the DML message: {kind!r}")
        location = message.get("claimCheckLocation")
        if location:
            if type(location) is not str:
                raise MessageDecodeError(f"simple {where}: claimCheckLocation is not a string")
            try:
                _, full = read_claim_check(location)
                message = self._load(full)
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise MessageDecodeError(f"simple {where}: claim-check location {location!r}: cannot read it: {error}") from None
            return self._row(message, table)
        readers = self._readers_of(table)
        data = self._image(message, "data", readers, where)
        old = self._image(message, "old", readers, where)
        if op == INSERT:
            before, after = None, data
        elif op == DELETE:
            before, after = old, None
        else:
            before, after = old, data
            if before is not None and after is not None:
                for name, value in after.items():
                    before.setdefault(name, value)
        if (op != DELETE and after is None) or (op != INSERT and before is None):
            raise MessageDecodeError(f"simple {where}: a {kind} message without its {'old' if after else 'data'} image")
        declared = {column.name: column.declared for column in table.columns}
        return RowEvent(table.schema, table.table, _uint64(message, "commitTs"), op, list(table.pk), declared,
                        before, after, None, 0, table)

    def _readers_of(self, table: TableSchema) -> tuple[tuple[str, Column, Callable[[Any], Any]], ...]:
        cached = self._readers.get(id(table))
        if cached is None or cached[0] is not table:
            readers = tuple((column.name, column, value_reader(column)) for column in table.columns)
            cached = self._readers[id(table)] = (table, readers)
        return cached[1]

    def _image(
        self, message: dict[str, Any], field: str, readers: tuple[tuple[str, Column, Callable[[Any], Any]], ...], where: str
    ) -> dict[str, Any] | None:
        raw = message.get(field)
        if raw is None:
            return None
        if type(raw) is not dict:
            raise MessageDecodeError(f"simple {where}: {field} is not an object")
        out: dict[str, Any] = {}
        for name, column, read in readers:
            if name not in raw:
                continue
            value = raw[name]
            if value is None:
                out[name] = None
                continue
            try:
                out[name] = read(value)
            except (ValueError, TypeError) as error:
                raise MessageDecodeError(
                    f"simple {where}: {field}: column {name!r} ({column.declared}): invalid value {value!r:.40}: {error}"
                ) from None
        if len(out) < len(raw):
            for name in raw:
                if name not in out:
                    raise MessageDecodeError(f"simple {where}: {field}: column {name!r} is not in the table schema")
        return out


# --- Values ----------------------------------------------------------------------

def _string(value: Any) -> str:
    if type(value) is not str:
        raise TypeError("not a string")
    return value


def value_reader(column: Column) -> Callable[[Any], Any]:
    """How TiCDC's ``formatValue`` reads one non-null value of ``column``, giving
    cdcsink's canonical value."""
    tp = column.tp
    if tp in _BOUNDS:
        low, high = _BOUNDS[tp][1 if column.unsigned else 0]
        parse = parse_uint if column.unsigned and tp == LONGLONG else parse_int

        def integer(value: Any) -> int:
            number = parse(_string(value))
            if not low <= number <= high:
                raise ValueError(f"out of range for {column.type_name}{' unsigned' if column.unsigned else ''}")
            return number

        return integer
    if tp in (BIT, ENUM, SET):
        return lambda value: parse_uint(_string(value))
    if tp == YEAR:
        return lambda value: parse_int(_string(value))
    if tp == FLOAT:
        return lambda value: parse_float32(_string(value))
    if tp == DOUBLE:
        return lambda value: parse_double(_string(value))
    if tp == NEWDECIMAL:
        scale = column.decimal or 0
        return lambda value: _decimal(_string(value), scale)
    if tp == TIMESTAMP:
        return _timestamp
    if tp == DATE:
        return lambda value: check_date_only(_string(value))
    if tp == DATETIME:
        return lambda value: check_datetime(_string(value))
    if tp == DURATION:
        return lambda value: check_duration(_string(value))
    if tp == JSON:
        return lambda value: check_json(_string(value))
    if tp in CHARS or tp in BLOBS:
        return _bytes if column.binary else _string
    return _unsupported


_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.([0-9]+))?\Z")
_WIDE = Context(prec=200)


def _decimal(text: str, scale: int) -> str:
    """The decimal with exactly ``scale`` fraction digits, as TiDB stores it in the column."""
    plain = _PLAIN_DECIMAL.match(text)
    if plain is not None and len(plain.group(1) or "") == scale and not (text.startswith("-") and not text.strip("-0.")):
        return text  # already as TiDB writes it
    check_decimal(text)
    try:
        number = _WIDE.create_decimal(text.strip())
        written = format(number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=_WIDE), "f")
    except InvalidOperation:
        raise ValueError("invalid decimal") from None
    return written[1:] if written.startswith("-") and not written.strip("-0.") else written


def _timestamp(value: Any) -> str:
    if type(value) is not dict or type(value.get("value")) is not str:
        raise TypeError('a timestamp must be {"location": ..., "value": "..."}')
    return check_datetime(value["value"])


def _bytes(value: Any) -> bytes:
    text = _string(value)
    try:
        return base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def _unsupported(value: Any) -> Any:
    raise ValueError("cdcsink has no value for this column type")


# --- Message fields -----------------------------------------------------------------

def _is_row(message: dict[str, Any]) -> bool:
    return message.get("data") is not None or message.get("old") is not None


def _uint64(message: dict[str, Any], field: str) -> int:
    value = message.get(field, 0)
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value < 2**64:
        raise MessageDecodeError(f"simple message: {field} {value!r:.40} is not a uint64")
    return value


def _schema_key(message: dict[str, Any]) -> SchemaKey:
    schema, table = message.get("database", ""), message.get("table", "")
    if type(schema) is not str or type(table) is not str:
        raise MessageDecodeError("simple row message: database and table must be strings")
    return schema, table, _uint64(message, "schemaVersion")


def _missing(key: SchemaKey) -> str:
    schema, table, version = key
    return (
        f"simple: no table schema for {schema}.{table} version {version} (its bootstrap or DDL message "
        "has not been read: TiCDC sends one before a table's rows and again every "
        "send-bootstrap-interval-in-sec / send-bootstrap-in-msg-count)"
    )
