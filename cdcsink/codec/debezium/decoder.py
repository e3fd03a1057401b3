"""Read Debezium JSON back into cdcsink's events.

The inverse of :mod:`cdcsink.codec.debezium.encoder` (the rules of ticdc
``pkg/sink/codec/debezium/decoder.go``: a column's type from its ``tidb_type``,
the handle key from the key's fields, an update without ``before`` read as an
insert), and also what Debezium's own MySQL connector writes through Kafka
Connect's JsonConverter, where that differs:

- with ``schemas.enable=false`` the message is the bare payload (TiCDC's
  ``debezium-disable-schema`` keeps a ``{"payload":...}`` wrapper): both read;
- without ``tidb_type`` (Debezium, or TiCDC without ``enable-tidb-extension``)
  a column's type comes from its Connect schema: ``int16`` is a smallint,
  ``int32`` an int, ``int64`` a bigint, ``boolean`` a bit(1), ``string`` a
  longtext, ``bytes`` a longblob, and the logical types (``io.debezium.time.*``,
  ``io.debezium.data.Enum``/``EnumSet``/``Json``/``Bits``, Kafka Connect's
  ``Decimal``/``Date``/``Time``/``Timestamp``, ``VariableScaleDecimal``) their
  MySQL types; a ``Decimal`` value is its unscaled big-endian bytes;
- without any schema each column is typed by its JSON values
  (:mod:`cdcsink.codec.common.untyped`);
- ``op`` ``r`` (a snapshot read) is an insert, ``t`` a TRUNCATE TABLE DDL;
- the tombstone Debezium writes after a delete (a message with an empty
  value) holds no event; a schema-change message without ``commit_ts``
  (Debezium's own) has commit ts 0 and its ``source.ts_ms`` as commit time.

Values come back in cdcsink's canonical forms, as far as the message keeps
them (see :mod:`cdcsink.codec.debezium.values` and README's table): a decimal
is the text of the double it was sent as; a datetime has 3 (``Timestamp``)
or 6 (``MicroTimestamp``) fraction digits and a time 6; a timestamp is UTC.
"""

from __future__ import annotations

import base64
from dataclasses import replace
import binascii
import json
from typing import Any, Callable

import orjson

from cdcsink.codec.common.gojson import format_double
from cdcsink.codec.common.golang import to_float32
from cdcsink.codec.common.large import decompress
from cdcsink.codec.common.untyped import plain_value, untyped_table
from cdcsink.codec.debezium import values as dbz
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, GEOMETRY, INTEGERS, JSON, LONGLONG,
    NEWDECIMAL, SET, TIMESTAMP, YEAR, Column, TableSchema, parse_column,
)
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, Event, ResolvedEvent, RowEvent

_UINT64 = 2**64
_Decode = Callable[[Any], Any]


def _loads(data: bytes, part: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:  # integers past 64 bits, which orjson does not read
            return json.loads(data)
        except ValueError as error:
            raise ValueError(f"debezium {part} is not JSON: {error}") from None


def _unwrap(doc: Any, part: str) -> tuple[Any, dict[str, Any] | None]:
    """(payload, schema) of a JsonConverter document, with or without its envelope."""
    if type(doc) is not dict:
        raise ValueError(f"debezium {part} is not a JSON object")
    if "payload" in doc and set(doc) <= {"payload", "schema"}:
        schema = doc.get("schema")
        return doc["payload"], schema if type(schema) is dict else None
    return doc, None


class DebeziumDecoder:
    """Decodes Debezium JSON messages (TiCDC's or Debezium's own) into cdcsink's
    events. ``options`` gives the ``large-message-handle-compression`` the key
    and value were written with."""

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.compression = options.large_message_handle_compression if options is not None else "none"
        self._tables: dict[Any, tuple[TableSchema, dict[str, _Decode]]] = {}

    def decode(self, key: bytes | None, value: bytes | None) -> list[Event]:
        if not value:
            return []  # the tombstone after a delete
        payload, schema = _unwrap(_loads(decompress(self.compression, value), "value"), "value")
        if payload is None:
            return []
        if type(payload) is not dict:
            raise ValueError("debezium payload is not a JSON object")
        source = payload.get("source")
        if type(source) is not dict:
            raise ValueError("debezium payload has no source object")
        op = payload.get("op")
        if op is None:
            if "ddl" in payload:
                return [self._ddl(payload, source)]
            raise ValueError("debezium payload has neither op nor ddl")
        if op == "m":
            return [ResolvedEvent(_commit_ts(source))]
        if op == "t":
            db, table = _names(source)
            return [DDLEvent(db, table, _commit_ts(source), f"TRUNCATE TABLE `{db}`.`{table}`", _ts_ms(source))]
        if op not in ("c", "r", "u", "d"):
            raise ValueError(f"debezium op {op!r} is not c, r, u, d, t or m")
        return [self._row(key, payload, schema, source, op)]

    def _ddl(self, payload: dict[str, Any], source: dict[str, Any]) -> DDLEvent:
        query = payload.get("ddl")
        if type(query) is not str:
            raise ValueError("debezium ddl is not a string")
        db = payload.get("databaseName") or source.get("db") or ""
        table = source.get("table") or None
        if table is None:
            changes = payload.get("tableChanges")
            if type(changes) is list and changes and type(changes[0]) is dict and type(changes[0].get("id")) is str:
                table = changes[0]["id"].rsplit(".", 1)[-1].strip('"') or None
        return DDLEvent(str(db), table, _commit_ts(source), query, _ts_ms(source))

    def _row(self, key: bytes | None, payload: dict[str, Any], schema: dict[str, Any] | None, source: dict[str, Any],
             op: str) -> RowEvent:
        db, table = _names(source)
        before, after = payload.get("before"), payload.get("after")
        for part, image in (("before", before), ("after", after)):
            if image is not None and type(image) is not dict:
                raise ValueError(f"debezium {part} is not an object")
        if op in ("c", "r"):
            kind, before = INSERT, None
        elif op == "d":
            kind, after = DELETE, None
        else:
            kind = UPDATE if before is not None else INSERT
        if (kind != INSERT and before is None) or (kind != DELETE and after is None):
            raise ValueError(f"debezium op {op!r} without its {'after' if kind != DELETE else 'before'} image")
        pk = _key_columns(key, self.compression)
        info, decoders = self._table(db, table, schema, pk, [image for image in (before, after) if image is not None])
        images = []
        for image in (before, after):
            if image is None:
                images.append(None)
                continue
            out = {}
            for name, raw in image.items():
                decode = decoders.get(name)
                if decode is None:
                    raise ValueError(f"debezium column {name!r} is not in the message's schema")
                try:
                    out[name] = None if raw is None else decode(raw)
                except (ValueError, TypeError, KeyError, OverflowError, binascii.Error) as error:
                    raise ValueError(f"debezium column {name!r}: {error}") from None
            images.append(out)
        declared = {column.name: column.declared for column in info.columns}
        return RowEvent(db, table, _commit_ts(source), kind, list(info.pk), declared, images[0], images[1],
                        commit_time_ms=_ts_ms(source), table_info=info)

    def _table(self, db: str, table: str, schema: dict[str, Any] | None, pk: tuple[str, ...],
               images: list[dict[str, Any]]) -> tuple[TableSchema, dict[str, _Decode]]:
        fields = _value_fields(schema) if schema is not None else None
        if fields is None:
            info = untyped_table(db, table, images, pk)
            return info, {column.name: plain_value for column in info.columns}
        signature = (db, table, pk, orjson.dumps(fields), tuple(name for image in images for name in image))
        cached = self._tables.get(signature)
        if cached is None:
            if len(self._tables) >= 4096:  # many tables or schema versions: start over
                self._tables.clear()
            columns, decoders = [], {}
            keys = set(pk)
            for position, field in enumerate(fields):
                column, decode = _column(field, position, field.get("field") in keys)
                columns.append(column)
                decoders[column.name] = decode
            for name in dict.fromkeys(name for image in images for name in image):
                if name not in decoders:  # a column the schema does not describe: typed by its values
                    (column,) = untyped_table(db, table, [{name: image.get(name) for image in images}]).columns
                    column = parse_column(name, column.declared, len(columns), False)
                    columns.append(column)
                    decoders[name] = plain_value
            info = TableSchema(db, table, tuple(columns), tuple(c.name for c in columns if c.name in keys),
                               {c.name: c for c in columns})
            cached = self._tables[signature] = (info, decoders)
        return cached


def _names(source: dict[str, Any]) -> tuple[str, str]:
    db, table = source.get("db"), source.get("table")
    if type(db) is not str or type(table) is not str:
        raise ValueError("debezium source has no db and table")
    return db, table


def _commit_ts(source: dict[str, Any]) -> int:
    ts = source.get("commit_ts")
    if ts is None:
        return 0
    if type(ts) is not int or ts < 0:
        raise ValueError(f"debezium source.commit_ts {ts!r} is not a commit ts")
    return ts


def _ts_ms(source: dict[str, Any]) -> int | None:
    ts = source.get("ts_ms")
    return ts if type(ts) is int else None


def _key_columns(key: bytes | None, compression: str) -> tuple[str, ...]:
    if not key:
        return ()
    payload, _ = _unwrap(_loads(decompress(compression, key), "key"), "key")
    return tuple(payload) if type(payload) is dict else ()


def _value_fields(schema: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The columns' schemas: the ``after`` (or ``before``) struct of the envelope."""
    fields = schema.get("fields")
    if type(fields) is not list:
        return None
    for wanted in ("after", "before"):
        for field in fields:
            if type(field) is dict and field.get("field") == wanted and type(field.get("fields")) is list:
                # TiCDC writes {} for a type it has no schema for (geometry, whose values are NULL).
                return [column for column in field["fields"] if type(column) is dict and type(column.get("field")) is str]
    return None


# -- one column ------------------------------------------------------------------------


def _members(allowed: Any, escaped: bool) -> list[str]:
    """``parameters.allowed`` split into members (enum members escape ``,`` as ``\\,``)."""
    if type(allowed) is not str:
        raise ValueError("enum/set parameters.allowed is not a string")
    if not escaped:
        return allowed.split(",")
    members, current, i = [], [], 0
    while i < len(allowed):
        if allowed.startswith("\\,", i):
            current.append(",")
            i += 2
        elif allowed[i] == ",":
            members.append("".join(current))
            current = []
            i += 1
        else:
            current.append(allowed[i])
            i += 1
    members.append("".join(current))
    return members


def _quoted(members: list[str]) -> str:
    return ",".join("'" + member.replace("\\", "\\\\").replace("'", "''") + "'" for member in members)


_BY_LOGICAL = {
    "io.debezium.time.Date": "date",
    "org.apache.kafka.connect.data.Date": "date",
    "io.debezium.time.Timestamp": "datetime(3)",
    "org.apache.kafka.connect.data.Timestamp": "datetime(3)",
    "io.debezium.time.MicroTimestamp": "datetime(6)",
    "io.debezium.time.NanoTimestamp": "datetime(6)",
    "io.debezium.time.ZonedTimestamp": "timestamp",
    "io.debezium.time.MicroTime": "time(6)",
    "io.debezium.time.NanoTime": "time(6)",
    "io.debezium.time.Time": "time(3)",
    "org.apache.kafka.connect.data.Time": "time(3)",
    "io.debezium.time.Year": "year",
    "io.debezium.data.Json": "json",
}
_BY_TYPE = {
    "boolean": "bit(1)", "int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint",
    "float": "float", "double": "double", "string": "longtext", "bytes": "longblob",
}


def _declared(field: dict[str, Any]) -> str:
    """The MySQL type a field's schema stands for."""
    kind, logical = field.get("type"), field.get("name")
    parameters = field.get("parameters") if type(field.get("parameters")) is dict else {}
    tidb = field.get("tidb_type")
    if logical == "io.debezium.data.Enum":
        return f"enum({_quoted(_members(parameters.get('allowed'), True))})"
    if logical == "io.debezium.data.EnumSet":
        return f"set({_quoted(_members(parameters.get('allowed'), False))})"
    if logical == "io.debezium.data.Bits":
        return f"bit({int(parameters.get('length', 1))})"
    if type(tidb) is str and tidb:
        if tidb == "bit":
            return "bit(1)"
        if tidb in ("datetime", "time"):
            return _BY_LOGICAL.get(logical, tidb)  # type: ignore[arg-type]
        if tidb.startswith("decimal") and logical == "org.apache.kafka.connect.data.Decimal":
            return _decimal_type(parameters)
        return tidb
    if logical == "org.apache.kafka.connect.data.Decimal":
        return _decimal_type(parameters)
    if logical == "io.debezium.data.VariableScaleDecimal":
        return "decimal(65,30)"
    if type(logical) is str and logical.startswith("io.debezium.data.geometry."):
        raise ValueError(f"spatial type {logical} is not supported by cdcsink")
    declared = _BY_LOGICAL.get(logical) if type(logical) is str else None  # type: ignore[arg-type]
    if declared is None:
        declared = _BY_TYPE.get(kind) if type(kind) is str else None  # type: ignore[arg-type]
    if declared is None:
        raise ValueError(f"unknown Connect schema type {kind!r} (name {logical!r})")
    return declared


#: Types whose length, scale, fractional seconds or members a bare name leaves unknown.
_SIZED_TYPES = frozenset((NEWDECIMAL, DATETIME, TIMESTAMP, DURATION, BIT, ENUM, SET))


def _decimal_type(parameters: dict[str, Any]) -> str:
    scale = int(parameters.get("scale", 0))
    precision = int(parameters.get("connect.decimal.precision", 65))
    return f"decimal({max(precision, scale, 1)},{scale})"


def _column(field: dict[str, Any], position: int, primary_key: bool) -> tuple[Column, _Decode]:
    name = field["field"]
    try:
        declared = _declared(field)
        optional = field.get("optional")
        spec: dict[str, Any] = {"type": declared, "nullable": bool(optional) and not primary_key}
        column = parse_column(name, spec, position, primary_key)
        if "(" not in declared and column.tp in _SIZED_TYPES:
            # A bare type name (TiCDC's tidb_type "DECIMAL"): its sizes are unknown, not the defaults.
            column = replace(column, sized=False)
        return column, _decoder(column, field)
    except ValueError as error:
        raise ValueError(f"debezium column {name!r}: {error}") from None


def _integer(raw: Any) -> int:
    if type(raw) is not int:
        raise ValueError(f"{raw!r} is not an integer")
    return raw


def _number(raw: Any) -> float:
    if type(raw) is not int and type(raw) is not float:
        raise ValueError(f"{raw!r} is not a number")
    return float(raw)


def _string(raw: Any) -> str:
    if type(raw) is not str:
        raise ValueError(f"{raw!r} is not a string")
    return raw


def _base64(raw: Any) -> bytes:
    return base64.b64decode(_string(raw), validate=True)


def _unscaled(raw: Any, scale: int) -> str:
    """Kafka Connect's Decimal: the unscaled value's big-endian two's-complement bytes."""
    if type(raw) in (int, float):
        return _decimal_text(str(raw), scale)
    if type(raw) is str and not raw.lstrip("-").replace(".", "", 1).isdigit():
        unscaled = int.from_bytes(_base64(raw), "big", signed=True)
        digits = str(abs(unscaled)).rjust(scale + 1, "0")
        text = (digits[:-scale] + "." + digits[-scale:]) if scale else digits
        return ("-" if unscaled < 0 else "") + text
    return _decimal_text(_string(raw), scale)


def _decimal_text(text: str, scale: int) -> str:
    from decimal import Decimal

    value = Decimal(text).quantize(Decimal(1).scaleb(-scale))
    return "0" + ("." + "0" * scale if scale else "") if value.is_zero() else format(value, "f")


def _variable_scale(raw: Any) -> str:
    if type(raw) is not dict:
        raise ValueError("a VariableScaleDecimal is not an object")
    scale = _integer(raw.get("scale"))
    unscaled = int.from_bytes(_base64(raw.get("value")), "big", signed=True)
    return _decimal_text(str(unscaled) + "e-" + str(scale), scale)


def _double_text(value: float) -> str:
    """A decimal sent as a double, as decimal text (no exponent, no negative zero)."""
    text = format_double(value)
    return "0" if text == "-0" else text


def _no_spatial(raw: Any) -> Any:
    raise ValueError("spatial values are not supported by cdcsink")


def _decoder(column: Column, field: dict[str, Any]) -> _Decode:
    """How one JSON value of the column becomes its canonical value."""
    tp, logical = column.tp, field.get("name")
    if tp in INTEGERS:
        if tp == LONGLONG and column.unsigned:
            return lambda raw: int(raw) if type(raw) is str else _integer(raw) % _UINT64
        return _integer
    if tp == YEAR:
        return _integer
    if tp == BIT:
        return lambda raw: (1 if raw else 0) if type(raw) is bool else dbz.bit_value(_base64(raw))
    if tp == FLOAT:
        return lambda raw: to_float32(_number(raw))
    if tp == DOUBLE:
        return _number
    if tp == NEWDECIMAL:
        if logical == "org.apache.kafka.connect.data.Decimal":
            scale = column.decimal or 0
            return lambda raw: _unscaled(raw, scale)
        if logical == "io.debezium.data.VariableScaleDecimal":
            return _variable_scale
        return lambda raw: _string(raw) if type(raw) is str else _double_text(_number(raw))
    if tp == DATE:
        return lambda raw: dbz.date_text(_integer(raw))
    if tp == DATETIME:
        fsp = column.decimal or 0
        if logical in ("io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp"):
            return lambda raw: dbz.datetime_text(_integer(raw) * 1000, fsp)
        if logical == "io.debezium.time.NanoTimestamp":
            return lambda raw: dbz.datetime_text(_integer(raw) // 1000, fsp)
        return lambda raw: dbz.datetime_text(_integer(raw), fsp)
    if tp == TIMESTAMP:
        return lambda raw: dbz.timestamp_text(_string(raw))
    if tp == DURATION:
        fsp = column.decimal or 0
        if logical in ("io.debezium.time.Time", "org.apache.kafka.connect.data.Time"):
            return lambda raw: dbz.duration_text(_integer(raw) * 1000, fsp)
        if logical == "io.debezium.time.NanoTime":
            return lambda raw: dbz.duration_text(_integer(raw) // 1000, fsp)
        return lambda raw: dbz.duration_text(_integer(raw), fsp)
    if tp == ENUM:
        elems = column.elems
        return lambda raw: dbz.enum_index(elems, _string(raw))
    if tp == SET:
        elems = column.elems
        return lambda raw: dbz.set_mask(elems, _string(raw))
    if tp == JSON:
        return _string
    if tp in CHARS or tp in BLOBS:
        return _base64 if column.binary else _string
    if tp == GEOMETRY:
        return _no_spatial
    raise ValueError(f"no decoding for {column.type_name}")
