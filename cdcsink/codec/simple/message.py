"""The simple protocol's wire structs: messages, table schemas, JSON as Go writes it.

TiCDC writes each message with Go's ``encoding/json`` from the structs in
ticdc ``pkg/sink/codec/simple/message.go``, so:

- fields come in struct order and those tagged ``omitempty`` are left out
  when empty (``database``, ``table``, ``tableID``, ``sql``,
  ``schemaVersion``, ``claimCheckLocation``, ``handleKeyOnly``, ``data``,
  ``old``, ``tableSchema``, ``preTableSchema``; in a column's ``dataType``:
  ``length``, ``decimal``, ``elements``, ``unsigned``, ``zerofill``);
- ``data`` and ``old`` are maps, written with their keys sorted;
- strings are escaped as Go 1.25 escapes them: ``<``, ``>``, ``&``, U+2028
  and U+2029 as ``\\u003c``... (HTML-safe), control characters as ``\\n``,
  ``\\b``, ``\\f``, ``\\u001f`` (orjson's output, plus the HTML rewrite).

A table schema (``tableSchema``, in bootstrap and DDL messages) describes the
table as TiDB's ``TableInfo`` does (ticdc ``newTableSchema``): per column the
type name (``types.TypeToStr``), charset and collation (``binary`` for every
type that is not a string), the display length with TiDB's defaults, the
scale or fractional seconds, enum/set members, unsigned and zerofill (TiDB
sets both on ``year``, and unsigned on ``bit``), nullability and the default
value; per index its name, unique, primary, nullable and columns.

cdcsink's input does not carry index names, multi-column secondary indexes,
default values or table ids: the handle key (``pk``) becomes the ``primary``
index (or, when its columns are declared ``unique``, a unique index named
after its first column), each ``unique`` / ``indexed`` column an index of
its own named after it, every default is null and ``tableID`` is 0.
A column read from a message that did not carry its sizes (canal-json
without content-compatible, open-protocol: ``Column.sized`` false) is written
with the widest ones, so that no consumer rounds or cuts a value: a decimal
as ``decimal(65,30)``, a time type with 6 fractional digits, ``bit(64)``.
``version`` (TiDB's schema update ts) becomes a hash of the table schema's
content, so the same table declaration always has the same version, in every
process and after restarts.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from cdcsink.codec.common import ddl_kind
from cdcsink.codec.common.flags import has_binary_charset
from cdcsink.codec.common.gojson import without_surrogates
from cdcsink.codec.schema import (
    _TYPE_TO_STR, BIT, BLOBS, CHARS, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, INT24, JSON, LONG, LONGBLOB,
    LONGLONG, MEDIUMBLOB, NEWDECIMAL, SET, SHORT, STRING, TIMESTAMP, TINY, TINYBLOB, YEAR, Column, TableSchema,
)
from cdcsink.codec.schema import BLOB as BLOB_TYPE
from cdcsink.codec.schema import DATE as DATE_TYPE

VERSION = 1

# Message types (ticdc message.go).
WATERMARK, BOOTSTRAP = "WATERMARK", "BOOTSTRAP"
INSERT, UPDATE, DELETE = "INSERT", "UPDATE", "DELETE"
CREATE, RENAME, CINDEX, DINDEX, ERASE, TRUNCATE, ALTER, QUERY = (
    "CREATE", "RENAME", "CINDEX", "DINDEX", "ERASE", "TRUNCATE", "ALTER", "QUERY"
)
DDL_TYPES = frozenset((CREATE, RENAME, CINDEX, DINDEX, ERASE, TRUNCATE, ALTER, QUERY))

#: What a timestamp value's ``location`` says: the input's timestamps carry no zone.
TIMESTAMP_LOCATION = "UTC"

#: ticdc ``getDDLType``: a DDL job's action type -> the message type.
_DDL_TYPE = {
    ddl_kind.CREATE_TABLE: CREATE,
    ddl_kind.RENAME_TABLE: RENAME, ddl_kind.RENAME_TABLES: RENAME,
    ddl_kind.ADD_INDEX: CINDEX, ddl_kind.ADD_FOREIGN_KEY: CINDEX, ddl_kind.ADD_PRIMARY_KEY: CINDEX,
    ddl_kind.DROP_INDEX: DINDEX, ddl_kind.DROP_FOREIGN_KEY: DINDEX, ddl_kind.DROP_PRIMARY_KEY: DINDEX,
    ddl_kind.DROP_TABLE: ERASE,
    ddl_kind.TRUNCATE_TABLE: TRUNCATE,
    **dict.fromkeys(
        (
            ddl_kind.ADD_COLUMN, ddl_kind.DROP_COLUMN, ddl_kind.MODIFY_COLUMN, ddl_kind.REBASE_AUTO_ID,
            ddl_kind.SET_DEFAULT_VALUE, ddl_kind.MODIFY_TABLE_COMMENT, ddl_kind.RENAME_INDEX,
            ddl_kind.ADD_TABLE_PARTITION, ddl_kind.DROP_TABLE_PARTITION, ddl_kind.MODIFY_TABLE_CHARSET_AND_COLLATE,
            ddl_kind.TRUNCATE_TABLE_PARTITION, ddl_kind.ALTER_INDEX_VISIBILITY, ddl_kind.MULTI_SCHEMA_CHANGE,
            ddl_kind.REORGANIZE_PARTITION, ddl_kind.ALTER_TABLE_PARTITIONING, ddl_kind.REMOVE_PARTITIONING,
            ddl_kind.EXCHANGE_TABLE_PARTITION,
        ),
        ALTER,
    ),
}


def ddl_type(query: str) -> str:
    """The message ``type`` of a DDL statement (``QUERY`` for what it does not list)."""
    return _DDL_TYPE.get(ddl_kind.classify(query).action, QUERY)


# --- JSON as Go's encoding/json writes it ------------------------------------

_HTML = re.compile(rb"[<>&]|\xe2\x80[\xa8\xa9]")
_HTML_ESCAPES = {b"<": b"\\u003c", b">": b"\\u003e", b"&": b"\\u0026", b"\xe2\x80\xa8": b"\\u2028", b"\xe2\x80\xa9": b"\\u2029"}


def go_escaped(data: bytes) -> bytes:
    """orjson output with Go's HTML-safe escapes (the rest of its escaping is Go's)."""
    if len(data.translate(None, b"<>&\xe2")) == len(data):
        return data
    return _HTML.sub(lambda match: _HTML_ESCAPES[match.group()], data)


def dumps(value: Any) -> bytes:
    """Compact JSON of ``value`` as ``json.Marshal`` writes it (strings with lone
    surrogates, which no UTF-8 text holds, get U+FFFD as Go writes invalid UTF-8)."""
    try:
        return go_escaped(orjson.dumps(value))
    except TypeError:
        return go_escaped(orjson.dumps(without_surrogates(value)))




# --- Table schema --------------------------------------------------------------

#: TiDB's default display length per type (``mysql.GetDefaultFieldLengthAndDecimal``;
#: integers: signed, unsigned).
_INT_LENGTH = {TINY: (4, 3), SHORT: (6, 5), INT24: (9, 8), LONG: (11, 10), LONGLONG: (20, 20)}
_LENGTH = {
    FLOAT: 12, DOUBLE: 22, NEWDECIMAL: 10, DATE_TYPE: 10, DATETIME: 19, TIMESTAMP: 19, DURATION: 10, YEAR: 4,
    BIT: 1, STRING: 1, TINYBLOB: 255, BLOB_TYPE: 65535, MEDIUMBLOB: 16777215, LONGBLOB: 4294967295, JSON: 4294967295,
}
#: A charset's default collation in TiDB.
_COLLATIONS = {"utf8mb4": "utf8mb4_bin", "utf8": "utf8_bin", "latin1": "latin1_bin", "ascii": "ascii_bin",
               "gbk": "gbk_bin", "binary": "binary"}


#: What a column whose sizes its input message did not carry is written with, so that
#: no consumer rounds or cuts its values: the widest decimal, fractional seconds and bit.
_UNSIZED = {NEWDECIMAL: (65, 30), DATETIME: (26, 6), TIMESTAMP: (26, 6), DURATION: (17, 6), BIT: (64, 0)}


def column_length(column: Column) -> int:
    """TiDB's ``flen`` of a column: as declared, else its type's default (enum:
    its longest member's bytes; set: all members' bytes and the commas)."""
    tp = column.tp
    if not column.sized and column.flen is None and tp in _UNSIZED:
        return _UNSIZED[tp][0]
    if tp == ENUM:
        return max((len(member.encode()) for member in column.elems), default=0)
    if tp == SET:
        return sum(len(member.encode()) for member in column.elems) + max(len(column.elems) - 1, 0)
    if tp in (DATETIME, TIMESTAMP, DURATION):
        # Fractional seconds widen the display: datetime(6) is 26 characters.
        return _LENGTH[tp] + (column.decimal + 1 if column.decimal else 0)
    if column.flen is not None:
        return column.flen
    if tp in _INT_LENGTH:
        return _INT_LENGTH[tp][1 if column.unsigned else 0]
    return _LENGTH.get(tp, 0)


def _charset(column: Column) -> tuple[str, str]:
    if has_binary_charset(column):
        return "binary", "binary"
    charset = column.charset or "utf8mb4"
    return charset, column.collation or _COLLATIONS.get(charset, f"{charset}_bin")


def column_schema(column: Column) -> dict[str, Any]:
    """ticdc ``newColumnSchema`` of one column (its default is null: the input has none)."""
    charset, collation = _charset(column)
    data_type: dict[str, Any] = {"mysqlType": column.type_name, "charset": charset, "collate": collation}
    length = column_length(column)
    if length:
        data_type["length"] = length
    decimal = column.decimal
    if decimal is None and not column.sized and column.tp in _UNSIZED:
        decimal = _UNSIZED[column.tp][1]
    if column.tp not in (FLOAT, DOUBLE) and decimal:
        data_type["decimal"] = decimal
    if column.elems:
        data_type["elements"] = list(column.elems)
    # TiDB gives YEAR the unsigned and zerofill flags, and BIT the unsigned one.
    if column.unsigned or column.tp in (YEAR, BIT):
        data_type["unsigned"] = True
    if column.zerofill or column.tp == YEAR:
        data_type["zerofill"] = True
    return {"name": column.name, "dataType": data_type, "nullable": column.nullable, "default": None}


def index_schemas(table: TableSchema) -> list[dict[str, Any]]:
    """The table's indexes as the input declares them: its handle key, and one
    index per ``unique`` or ``indexed`` column."""
    indexes = []
    by_name = table.by_name
    for column in table.columns:
        if column.primary_key:
            continue
        if column.unique_key or column.multiple_key:
            indexes.append({
                "name": column.name, "unique": column.unique_key, "primary": False,
                "nullable": column.nullable, "columns": [column.name],
            })
    if table.pk:
        keys = [by_name[name] for name in table.pk]
        primary = not all(column.unique_key for column in keys)
        indexes.append({
            "name": "primary" if primary else table.pk[0], "unique": True, "primary": primary,
            "nullable": any(column.nullable for column in keys), "columns": list(table.pk),
        })
    return indexes


def table_schema_doc(table: TableSchema, version: int | None = None) -> dict[str, Any]:
    """ticdc ``newTableSchema`` of ``table``; ``version`` defaults to the content hash."""
    doc = {
        "schema": table.schema,
        "table": table.table,
        "tableID": 0,
        "version": 0,
        "columns": [column_schema(column) for column in table.columns],
        "indexes": index_schemas(table),
    }
    doc["version"] = content_version(doc) if version is None else version
    return doc


def content_version(doc: dict[str, Any]) -> int:
    """A table schema's version from its content: 63 bits of a BLAKE2b hash, never 0
    (``schemaVersion`` is left out of a message when 0)."""
    body = dumps({key: value for key, value in doc.items() if key != "version"})
    return int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "big") >> 1 or 1


# --- Table schema read back ------------------------------------------------------

#: ``types.StrToType`` of the names ``types.TypeToStr`` writes.
_STR_TO_TYPE = {name: code for code, name in _TYPE_TO_STR.items()}
_STR_TO_TYPE.update({"varbinary": _STR_TO_TYPE["varchar"], "binary": STRING, "tinyblob": TINYBLOB, "blob": BLOB_TYPE,
                     "mediumblob": MEDIUMBLOB, "longblob": LONGBLOB})


class SchemaError(ValueError):
    """A table schema that cannot be read: names the field."""


def _field(doc: dict[str, Any], name: str, kind: type, where: str, default: Any = None) -> Any:
    """``doc[name]`` typed as Go unmarshals it (absent or null: the zero value)."""
    value = doc.get(name)
    if value is None:
        return default
    if type(value) is not kind:
        raise SchemaError(f"{where}.{name} is not {_KIND_NAMES[kind]}: {value!r:.40}")
    return value


_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}


def table_from_doc(doc: Any, where: str = "tableSchema") -> tuple[TableSchema, int]:
    """A table model and its version from a ``tableSchema`` (ticdc ``newTableInfo``):
    column types from ``mysqlType`` (``types.StrToType``: an unknown name is type 0),
    the binary charset from ``charset``, key columns from ``indexes``: the primary
    index, else the first unique index of NOT NULL columns (TiDB's handle key)."""
    if type(doc) is not dict:
        raise SchemaError(f"{where} is not an object")
    schema = _field(doc, "schema", str, where, "")
    table = _field(doc, "table", str, where, "")
    version = _field(doc, "version", int, where, 0)
    if not 0 <= version < 2**64:
        raise SchemaError(f"{where}.version {version} is not a uint64")
    raw_columns = _field(doc, "columns", list, where, [])
    raw_indexes = _field(doc, "indexes", list, where, [])
    indexes = []
    for i, index in enumerate(raw_indexes):
        at = f"{where}.indexes[{i}]"
        if type(index) is not dict:
            raise SchemaError(f"{at} is not an object")
        names = _field(index, "columns", list, at, [])
        if any(type(name) is not str for name in names):
            raise SchemaError(f"{at}.columns is not a list of strings")
        indexes.append((_field(index, "primary", bool, at, False), _field(index, "unique", bool, at, False), names))
    key: list[str] = []
    primary = next((names for is_primary, _, names in indexes if is_primary), None)
    columns_doc = []
    for i, column in enumerate(raw_columns):
        at = f"{where}.columns[{i}]"
        if type(column) is not dict:
            raise SchemaError(f"{at} is not an object")
        columns_doc.append((at, column))
    nullable_by_name = {
        column.get("name"): column.get("nullable") is True for _, column in columns_doc
    }
    if primary is not None:
        key = list(primary)
    else:
        for _, unique, names in indexes:
            if unique and names and not any(nullable_by_name.get(name, True) for name in names):
                key = list(names)
                break
    unique_first: set[str] = set()
    multiple: set[str] = set()
    for is_primary, unique, names in indexes:
        if is_primary:
            continue
        if unique and names:
            (unique_first if len(names) == 1 else multiple).add(names[0])
        else:
            multiple.update(names)
    handle_unique = primary is None and bool(key)
    parsed = []
    for position, (at, column) in enumerate(columns_doc):
        name = _field(column, "name", str, at, "")
        data_type = column.get("dataType")
        if type(data_type) is not dict:
            raise SchemaError(f"{at}.dataType is not an object")
        parsed.append(_column(name, position, data_type, f"{at}.dataType", column.get("nullable") is True,
                              name in key, name in unique_first or (handle_unique and name in key), name in multiple))
    by_name = {column.name: column for column in parsed}
    for name in key:
        if name not in by_name:
            raise SchemaError(f"{where}: index column {name!r} is not among the columns")
    return TableSchema(schema, table, tuple(parsed), tuple(key), by_name), version


def _column(name: str, position: int, data_type: dict[str, Any], at: str, nullable: bool, key: bool,
            unique: bool, multiple: bool) -> Column:
    type_name = _field(data_type, "mysqlType", str, at, "")
    charset = _field(data_type, "charset", str, at, "")
    collation = _field(data_type, "collate", str, at, "")
    length = _field(data_type, "length", int, at, 0)
    decimal = _field(data_type, "decimal", int, at, 0)
    elements = _field(data_type, "elements", list, at, [])
    if any(type(member) is not str for member in elements):
        raise SchemaError(f"{at}.elements is not a list of strings")
    unsigned = _field(data_type, "unsigned", bool, at, False)
    zerofill = _field(data_type, "zerofill", bool, at, False)
    tp = _STR_TO_TYPE.get(type_name.lower(), 0)
    binary = charset == "binary" and (tp in CHARS or tp in BLOBS)
    normalised = _TYPE_TO_STR.get(tp, type_name)
    if binary and tp in BLOBS:
        normalised = normalised.replace("text", "blob")
    elif binary and tp in CHARS:
        normalised = normalised.replace("char", "binary")
    text_type = tp in CHARS or tp in BLOBS or tp in (ENUM, SET)
    column = Column(
        name=name,
        position=position,
        declared="",
        tp=tp,
        type_name=normalised,
        flen=length if length > 0 and tp not in (DATETIME, TIMESTAMP, DURATION, ENUM, SET) else None,
        decimal=decimal if decimal > 0 else None,
        unsigned=unsigned and tp not in (YEAR, BIT),
        zerofill=zerofill and tp != YEAR,
        binary=binary,
        charset=(charset or None) if text_type else None,
        collation=(collation or None) if text_type else None,
        nullable=nullable and not key,
        primary_key=key,
        unique_key=unique,
        multiple_key=multiple,
        elems=tuple(elements),
    )
    return _with_declared(column)


def _with_declared(column: Column) -> Column:
    from dataclasses import replace

    from cdcsink.codec.common.mysql_types import mysql_type_name

    return replace(column, declared=mysql_type_name(column, True))
