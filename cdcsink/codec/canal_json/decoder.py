"""canal-json read back as a TiCDC consumer reads it.

The rules are those of TiCDC's kafka-consumer decoder (ticdc
``pkg/sink/codec/canal/canal_json_decoder.go``; tiflow
``pkg/sink/codec/canal/canal_json_decoder.go`` and ``canal_json_message.go``
where ticdc has none), and a message fails here where it fails there:

- ``isDdl`` makes a DDL event, type ``TIDB_WATERMARK`` a watermark (which needs
  the TiDB extension), anything else a row whose ``type`` must be INSERT,
  UPDATE or DELETE; the commit ts is ``_tidb.commitTs`` with the extension, 0
  without.
- The table is rebuilt from ``mysqlType`` (column order as the message lists
  them; TiCDC sorts them by name, which changes nothing it reads) and
  ``pkNames``: the base type is the name before ``(`` or a space (``binary``
  read as char, ``blob`` as text), a type containing ``blob`` or ``binary``
  is binary, one containing ``unsigned`` unsigned; lengths, scales and
  members come from the parentheses when ``content-compatible`` wrote them.
  ``sqlType`` is not read, as TiCDC does not read it.
- Values must be strings or null. Binary ones are turned back into bytes
  through ISO-8859-1 (a character above U+00FF fails); integers parse as
  signed, or unsigned when the type says so, in 64 bits; enum, set and bit as
  unsigned 64-bit integers (a member name fails); float and double as Go's
  ``ParseFloat`` does (out of range fails); decimals, dates, times and JSON
  must be well formed; a geometry or unknown type fails on any non-null value.
- ``data`` has the row (the old image for a DELETE); for an UPDATE, ``old``
  has the old values of the columns it lists and the new value stands for
  every other (only-output-updated-columns). A ``data`` column without a
  ``mysqlType`` fails (tiflow's "mysql type does not found"); a ``mysqlType``
  column missing from ``data`` is NULL.
- With ``_tidb.claimCheckLocation`` the full message is read from the
  claim-check file; an ``onlyHandleKey`` message decodes to its handle-key
  columns (a consumer with the upstream database would query the rest).

Values come back in the canonical forms :mod:`cdcsink.codec.schema` lists, so
an event encoded by :class:`~cdcsink.codec.canal_json.encoder.CanalJsonEncoder`
decodes to the same row.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson

from cdcsink.codec import schema as types
from cdcsink.codec.common.large import decompress, read_claim_check
from cdcsink.codec.common.text_values import check_date_only as _check_date_only
from cdcsink.codec.common.text_values import check_datetime as _check_datetime
from cdcsink.codec.common.text_values import check_decimal as _check_decimal
from cdcsink.codec.common.text_values import check_duration as _check_duration
from cdcsink.codec.common.text_values import check_json as _check_json
from cdcsink.codec.common.text_values import parse_double as _parse_double
from cdcsink.codec.common.text_values import parse_float32 as _parse_float32
from cdcsink.codec.common.text_values import parse_int as _parse_int
from cdcsink.codec.common.text_values import parse_uint as _parse_uint
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import Column, TableSchema
from cdcsink.errors import MessageDecodeError
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, Event, ResolvedEvent, RowEvent

_ROW_TYPES = {"INSERT": INSERT, "UPDATE": UPDATE, "DELETE": DELETE}
WATERMARK = "TIDB_WATERMARK"

#: TiDB's ``types.StrToType`` names (after ``blob`` -> ``text`` and ``binary`` -> ``char``).
_STR_TO_TYPE = {
    "bit": types.BIT, "text": types.BLOB, "date": types.DATE, "datetime": types.DATETIME,
    "decimal": types.NEWDECIMAL, "double": types.DOUBLE, "enum": types.ENUM, "float": types.FLOAT,
    "geometry": types.GEOMETRY, "mediumint": types.INT24, "json": types.JSON, "int": types.LONG,
    "bigint": types.LONGLONG, "longtext": types.LONGBLOB, "mediumtext": types.MEDIUMBLOB, "null": types.NULL,
    "set": types.SET, "smallint": types.SHORT, "char": types.STRING, "time": types.DURATION,
    "timestamp": types.TIMESTAMP, "tinyint": types.TINY, "tinytext": types.TINYBLOB, "varchar": types.VARCHAR,
    "var_string": types.VARSTRING, "year": types.YEAR,
}
_UNKNOWN = 0
_FLEN = re.compile(r"\((\d+)(?:,(\d+))?\)")
_MEMBER = re.compile(r"'((?:[^']|'')*)'")


class CanalJsonDecoder:
    """Decodes one canal-json Kafka message value into cdcsink events."""

    def __init__(self, options: EncoderOptions) -> None:
        self.extension = options.enable_tidb_extension
        self.compression = options.large_message_handle_compression
        self._tables: dict[tuple[Any, ...], TableSchema] = {}

    def decode(self, key: bytes | None, value: bytes) -> list[Event]:
        message = self._load(decompress(self.compression, value), "message")
        if message.get("isDdl") is True:
            return [self._ddl(message)]
        if message.get("type") == WATERMARK:
            return [self._watermark(message)]
        tidb = self._tidb(message)
        location = tidb.get("claimCheckLocation")
        if location:
            try:
                _, full = read_claim_check(_string(location, "_tidb.claimCheckLocation"))
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise MessageDecodeError(f"canal-json claim-check location {location!r}: cannot read it: {error}") from None
            message = self._load(decompress(self.compression, full), f"claim-check message {location}")
            tidb = self._tidb(message)
        return [self._row(message, tidb)]

    @staticmethod
    def _load(raw: bytes, what: str) -> dict[str, Any]:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise MessageDecodeError(f"canal-json {what} is not JSON: {error}") from None
        if type(message) is not dict:
            raise MessageDecodeError(f"canal-json {what} is not a JSON object")
        return message

    def _tidb(self, message: dict[str, Any]) -> dict[str, Any]:
        if not self.extension:
            return {}
        tidb = message.get("_tidb")
        if tidb is None:
            return {}
        if type(tidb) is not dict:
            raise MessageDecodeError("canal-json _tidb is not an object")
        return tidb

    def _commit_ts(self, tidb: dict[str, Any]) -> int:
        ts = tidb.get("commitTs", 0)
        if type(ts) is not int or not 0 <= ts < 2**64:
            raise MessageDecodeError(f"canal-json _tidb.commitTs {ts!r} is not a uint64")
        return ts

    def _ddl(self, message: dict[str, Any]) -> DDLEvent:
        schema = _string(message.get("database", ""), "database")
        table = _string(message.get("table", ""), "table")
        query = _string(message.get("sql", ""), "sql")
        ts = self._commit_ts(self._tidb(message))
        return DDLEvent(schema, table or None, ts, query, _es(message))

    def _watermark(self, message: dict[str, Any]) -> ResolvedEvent:
        if not self.extension:
            raise MessageDecodeError("canal-json resolved event message should have tidb extension, but not found")
        ts = self._tidb(message).get("watermarkTs", 0)
        if type(ts) is not int or not 0 <= ts < 2**64:
            raise MessageDecodeError(f"canal-json _tidb.watermarkTs {ts!r} is not a uint64")
        return ResolvedEvent(ts)

    def _row(self, message: dict[str, Any], tidb: dict[str, Any]) -> RowEvent:
        kind = message.get("type")
        op = _ROW_TYPES.get(kind) if type(kind) is str else None
        if op is None:
            raise MessageDecodeError(f"canal-json unknown event type for the DML event: {kind!r}")
        schema = _string(message.get("database", ""), "database")
        table_name = _string(message.get("table", ""), "table")
        table = self._table(schema, table_name, message)
        where = f"{schema}.{table_name}"
        data = _image(message, "data", where)
        values = _values(table, data, where)
        if op == UPDATE:
            old = _values(table, _image(message, "old", where), where, only_present=True)
            before = {name: old[name] if name in old else value for name, value in values.items()}
            after: dict[str, Any] | None = values
        elif op == DELETE:
            before, after = values, None
        else:
            before, after = None, values
        columns = {column.name: column.declared for column in table.columns}
        return RowEvent(schema, table_name, self._commit_ts(tidb), op, list(table.pk), columns, before, after,
                        _es(message), 0, table)

    def _table(self, schema: str, table: str, message: dict[str, Any]) -> TableSchema:
        mysql_types = message.get("mysqlType")
        if mysql_types is None:
            mysql_types = {}
        if type(mysql_types) is not dict or any(type(t) is not str for t in mysql_types.values()):
            raise MessageDecodeError(f"canal-json {schema}.{table}: mysqlType is not an object of strings")
        pk_names = message.get("pkNames") or []
        if type(pk_names) is not list or any(type(name) is not str for name in pk_names):
            raise MessageDecodeError(f"canal-json {schema}.{table}: pkNames is not a list of strings")
        key = (schema, table, tuple(mysql_types.items()), tuple(pk_names))
        info = self._tables.get(key)
        if info is None:
            if len(self._tables) > 4096:
                self._tables.clear()
            keys = set(pk_names)
            columns = tuple(
                column_from_mysql_type(name, mysql_type, position, name in keys)
                for position, (name, mysql_type) in enumerate(mysql_types.items())
            )
            info = self._tables[key] = TableSchema(
                schema, table, columns, tuple(pk_names), {column.name: column for column in columns}
            )
        return info


def column_from_mysql_type(name: str, mysql_type: str, position: int, primary_key: bool) -> Column:
    """A column as TiCDC's decoder rebuilds it from its ``mysqlType`` (ticdc
    ``newTiColumns``): base type, binary, unsigned, zerofill, length and scale,
    enum/set members. A name TiDB does not know gets type code 0 and fails on
    any non-null value, as in TiCDC."""
    text = mysql_type.strip()
    if text.startswith("unsigned "):
        text = text[len("unsigned "):]
    base = re.split(r"[( ]", text, maxsplit=1)[0]
    code = _STR_TO_TYPE.get(base.replace("blob", "text", 1).replace("binary", "char", 1), _UNKNOWN)
    binary = "blob" in mysql_type or "binary" in mysql_type
    flen = decimal = None
    elems: tuple[str, ...] = ()
    if code in (types.ENUM, types.SET):
        open_at = mysql_type.find("(")
        if open_at >= 0:
            elems = tuple(member.replace("''", "'") for member in _MEMBER.findall(mysql_type[open_at:]))
    elif (found := _FLEN.search(mysql_type)) is not None:
        flen = int(found.group(1))
        decimal = int(found.group(2)) if found.group(2) is not None else None
        if code in (types.DATETIME, types.TIMESTAMP, types.DURATION):
            flen, decimal = None, flen
    if code == _UNKNOWN:
        type_name = base
    else:
        type_name = types.tidb_type_name(code, binary)
    text_type = mysql_type.startswith(("char", "varchar")) or any(word in mysql_type for word in ("text", "enum", "set"))
    return Column(
        name=name,
        position=position,
        declared=mysql_type,
        tp=code,
        type_name=type_name,
        flen=flen,
        decimal=decimal,
        unsigned="unsigned" in mysql_type,
        zerofill="zerofill" in mysql_type,
        binary=binary,
        charset="binary" if binary else ("utf8mb4" if text_type else None),
        collation="binary" if binary else ("utf8mb4_bin" if text_type else None),
        nullable=not primary_key,
        primary_key=primary_key,
        elems=elems,
        sized="(" in mysql_type,
    )


# --- Values -----------------------------------------------------------------

def _latin1(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("a character above U+00FF cannot be ISO-8859-1 bytes") from None


def _unknown(text: str) -> Any:
    raise ValueError("unknown column type")


def _same(text: str) -> str:
    return text


def value_parser(column: Column) -> tuple[Callable[[str], Any], str]:
    """How TiCDC's ``formatValue`` reads one non-null string of ``column``, and
    what it calls the value when that fails."""
    if column.binary:
        return _latin1, "binary"
    code = column.tp
    if code in types.INTEGERS:
        return (_parse_uint, "unsigned integer") if column.unsigned else (_parse_int, "integer")
    readers: dict[int, tuple[Callable[[str], Any], str]] = {
        types.YEAR: (_parse_int, "year"), types.FLOAT: (_parse_float32, "float"), types.DOUBLE: (_parse_double, "double"),
        types.NEWDECIMAL: (_check_decimal, "decimal"), types.DATE: (_check_date_only, "time"),
        types.DATETIME: (_check_datetime, "time"), types.TIMESTAMP: (_check_datetime, "time"),
        types.DURATION: (_check_duration, "duration"), types.ENUM: (_parse_uint, "enum"),
        types.SET: (_parse_uint, "set"), types.BIT: (_parse_uint, "bit"), types.JSON: (_check_json, "json"),
    }
    if code in readers:
        return readers[code]
    if code in types.CHARS or code in types.BLOBS:
        return _same, "string"
    return _unknown, f"type {column.type_name!r}"


def _values(table: TableSchema, image: dict[str, Any], where: str, only_present: bool = False) -> dict[str, Any]:
    """An image's canonical values: every table column (NULL when missing), or
    with ``only_present`` just those the image lists."""
    for name in image:
        if name not in table.by_name:
            raise MessageDecodeError(f"canal-json {where}: mysql type does not found, column: {name!r}")
    out: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if name not in image:
            if not only_present:
                out[name] = None
            continue
        raw = image[name]
        if raw is None:
            out[name] = None
            continue
        if type(raw) is not str:
            raise MessageDecodeError(
                f"canal-json {where}: column {name!r}: canal-json encoded message should have type in `string`, got {raw!r:.40}"
            )
        parse, what = value_parser(column)
        try:
            out[name] = parse(raw)
        except ValueError as error:
            raise MessageDecodeError(
                f"canal-json {where}: column {name!r} ({column.declared}): invalid column value for {what} {raw!r:.40}: {error}"
            ) from None
    return out


def _image(message: dict[str, Any], field: str, where: str) -> dict[str, Any]:
    """``data[0]`` / ``old[0]``; null gives no columns."""
    rows = message.get(field)
    if rows is None:
        return {}
    if type(rows) is not list or not rows or type(rows[0]) is not dict:
        raise MessageDecodeError(f"canal-json {where}: {field} is not a list holding one object")
    return rows[0]


def _string(value: Any, field: str) -> str:
    if type(value) is not str:
        raise MessageDecodeError(f"canal-json {field} is not a string: {value!r:.40}")
    return value


def _es(message: dict[str, Any]) -> int | None:
    es = message.get("es")
    return es if type(es) is int else None
