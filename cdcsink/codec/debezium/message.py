"""Debezium's wire pieces as TiCDC writes them (ticdc ``pkg/sink/codec/debezium/
codec.go`` and ``helper.go``): the Kafka Connect schemas of keys, values,
schema-change and watermark messages, the schema of each column, and a DDL's
``tableChanges`` column descriptions.

Each piece is a dict in TiCDC's field order; the encoder serialises the ones
that depend only on the table once per table.
"""

from __future__ import annotations

from typing import Any

from cdcsink.codec.common.ddl_table import CreatedColumn
from cdcsink.codec.schema import (
    BIT, BLOB, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, GEOMETRY, INT24, JSON, LONG, LONGBLOB,
    LONGLONG, MEDIUMBLOB, NEWDECIMAL, NULL, SET, SHORT, STRING, TIMESTAMP, TINY, TINYBLOB, VARCHAR, VARSTRING, YEAR,
    Column, TableSchema,
)

VERSION = "2.4.0.Final"
CONNECTOR = "TiCDC"
SOURCE_SCHEMA_NAME = "io.debezium.connector.mysql.Source"

# -- names ------------------------------------------------------------------------


def _first_ok(char: str) -> bool:
    return ("a" <= char <= "z") or ("A" <= char <= "Z") or char == "_"


def _next_ok(char: str) -> bool:
    return _first_ok(char) or "0" <= char <= "9"


def sanitize_name(name: str) -> str:
    """TiCDC's ``SanitizeName`` (Avro name rules): a character that may not
    stand where it is becomes ``_``; a leading digit keeps itself after the ``_``."""
    out = []
    for index, char in enumerate(name):
        if index == 0 and not _first_ok(char):
            out.append("_" + char if "0" <= char <= "9" else "_")
        elif not _next_ok(char):
            out.append("_")
        else:
            out.append(char)
    return "".join(out)


def sanitize_topic_name(name: str) -> str:
    """TiCDC's ``SanitizeTopicName``: letters, digits, ``_`` and ``.`` stay."""
    return "".join(char if _next_ok(char) or char == "." else "_" for char in name)


def schema_topic_name(cluster: str, schema: str, table: str) -> str:
    return f"{sanitize_name(cluster)}.{sanitize_name(schema)}.{sanitize_topic_name(table)}"


def escape_enum_member(member: str) -> str:
    """TiCDC's ``EscapeEnumAndSetOptions`` (Debezium's DDL parser rule)."""
    return member.replace(",", "\\,").replace("\\'", "'").replace("''", "'")


# -- column schemas -----------------------------------------------------------------


def tidb_type(column: Column) -> str:
    """``getTiDBType``: TiDB's type name, `` unsigned`` added except for year,
    bit, varchar, char and decimal."""
    if column.unsigned and column.tp not in (YEAR, BIT, VARCHAR, STRING, NEWDECIMAL):
        return column.type_name + " unsigned"
    return column.type_name


def bit_length(column: Column) -> int:
    return column.flen if column.flen is not None else 1


def field_schema(column: Column, extension: bool) -> dict[str, Any]:
    """``writeDebeziumFieldSchema``: one column's Connect schema (no defaults:
    the input carries none)."""
    out: dict[str, Any] = {"tidb_type": tidb_type(column)} if extension else {}
    name, tp, optional = column.name, column.tp, column.nullable
    if tp == BIT:
        if bit_length(column) == 1:
            out.update(type="boolean", optional=optional, field=name)
        else:
            out.update(type="bytes", optional=optional, name="io.debezium.data.Bits", version=1,
                       parameters={"length": str(bit_length(column))}, field=name)
    elif tp in CHARS or tp in BLOBS:
        out.update(type="string", optional=optional, field=name)
    elif tp == ENUM:
        out.update(type="string", optional=optional, name="io.debezium.data.Enum", version=1,
                   parameters={"allowed": ",".join(escape_enum_member(m) for m in column.elems)}, field=name)
    elif tp == SET:
        out.update(type="string", optional=optional, name="io.debezium.data.EnumSet", version=1,
                   parameters={"allowed": ",".join(column.elems)}, field=name)
    elif tp == DATE:
        out.update(type="int32", optional=optional, name="io.debezium.time.Date", version=1, field=name)
    elif tp == DATETIME:
        micro = (column.decimal or 0) > 3
        out.update(type="int64", optional=optional,
                   name="io.debezium.time.MicroTimestamp" if micro else "io.debezium.time.Timestamp", version=1,
                   field=name)
    elif tp == TIMESTAMP:
        out.update(type="string", optional=optional, name="io.debezium.time.ZonedTimestamp", version=1, field=name)
    elif tp == DURATION:
        out.update(type="int64", optional=optional, name="io.debezium.time.MicroTime", version=1, field=name)
    elif tp == JSON:
        out.update(type="string", optional=optional, name="io.debezium.data.Json", version=1, field=name)
    elif tp == TINY:
        out.update(type="int16", optional=optional, field=name)
    elif tp == SHORT:
        out.update(type="int32" if column.unsigned else "int16", optional=optional, field=name)
    elif tp == INT24:
        out.update(type="int32", optional=optional, field=name)
    elif tp == LONG:
        out.update(type="int64" if column.unsigned else "int32", optional=optional, field=name)
    elif tp == LONGLONG:
        out.update(type="int64", optional=optional, field=name)
    elif tp == FLOAT:
        out.update(type="double" if column.decimal is not None else "float", optional=optional, field=name)
    elif tp in (DOUBLE, NEWDECIMAL):
        out.update(type="double", optional=optional, field=name)
    elif tp == YEAR:
        out.update(type="int32", optional=optional, name="io.debezium.time.Year", version=1, field=name)
    # Other types (geometry): TiCDC logs "unsupported field type" and writes what it has so far.
    return out


def source_schema(schema_name: str, extension: bool) -> dict[str, Any]:
    """``writeSourceSchema`` (JSON, without start_ts)."""
    fields: list[dict[str, Any]] = [
        {"type": "string", "optional": False, "field": "version"},
        {"type": "string", "optional": False, "field": "connector"},
        {"type": "string", "optional": False, "field": "name"},
        {"type": "int64", "optional": False, "field": "ts_ms"},
        {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
         "parameters": {"allowed": "true,last,false,incremental"}, "default": "false", "field": "snapshot"},
        {"type": "string", "optional": False, "field": "db"},
        {"type": "string", "optional": True, "field": "sequence"},
        {"type": "string", "optional": True, "field": "table"},
        {"type": "int64", "optional": False, "field": "server_id"},
        {"type": "string", "optional": True, "field": "gtid"},
        {"type": "string", "optional": False, "field": "file"},
        {"type": "int64", "optional": False, "field": "pos"},
        {"type": "int32", "optional": False, "field": "row"},
        {"type": "int64", "optional": True, "field": "thread"},
        {"type": "string", "optional": True, "field": "query"},
    ]
    if extension:
        fields.append({"type": "int64", "optional": False, "field": "commit_ts"})
        fields.append({"type": "string", "optional": False, "field": "cluster_id"})
    return {"type": "struct", "fields": fields, "optional": False, "name": SOURCE_SCHEMA_NAME, "field": "source"}


def _transaction_schema() -> dict[str, Any]:
    return {
        "type": "struct",
        "fields": [
            {"type": "string", "optional": False, "field": "id"},
            {"type": "int64", "optional": False, "field": "total_order"},
            {"type": "int64", "optional": False, "field": "data_collection_order"},
        ],
        "optional": True, "name": "event.block", "version": 1, "field": "transaction",
    }


def key_schema(cluster: str, table: TableSchema, extension: bool) -> dict[str, Any]:
    """The key's schema: the handle-key columns."""
    return {
        "type": "struct",
        "name": f"{schema_topic_name(cluster, table.schema, table.table)}.Key",
        "optional": False,
        "fields": [field_schema(column, extension) for column in table.columns if column.primary_key],
    }


def envelope_schema(cluster: str, table: TableSchema, extension: bool) -> dict[str, Any]:
    """The value's schema: before/after structs of every column, source, op,
    ts_ms, transaction."""
    base = schema_topic_name(cluster, table.schema, table.table)
    fields = [field_schema(column, extension) for column in table.columns]
    return {
        "type": "struct",
        "optional": False,
        "name": f"{base}.Envelope",
        "version": 1,
        "fields": [
            {"type": "struct", "optional": True, "name": f"{base}.Value", "field": "before", "fields": fields},
            {"type": "struct", "optional": True, "name": f"{base}.Value", "field": "after", "fields": fields},
            source_schema(table.schema, extension),
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
            _transaction_schema(),
        ],
    }


def watermark_key_schema(cluster: str) -> dict[str, Any]:
    return {"type": "struct", "name": f"{sanitize_name(cluster)}.watermark.Key", "optional": False, "fields": []}


def watermark_value_schema(cluster: str, extension: bool) -> dict[str, Any]:
    return {
        "type": "struct",
        "optional": False,
        "name": f"{sanitize_name(cluster)}.watermark.Envelope",
        "version": 1,
        "fields": [
            source_schema("watermark", extension),
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
            _transaction_schema(),
        ],
    }


DDL_KEY_SCHEMA = {
    "type": "struct",
    "name": "io.debezium.connector.mysql.SchemaChangeKey",
    "optional": False,
    "version": 1,
    "fields": [{"field": "databaseName", "optional": False, "type": "string"}],
}


def _field(name: str, optional: bool, kind: str, **more: Any) -> dict[str, Any]:
    return {"field": name, "optional": optional, "type": kind, **more}


def _strings() -> dict[str, Any]:
    return {"type": "string", "optional": False}


def ddl_value_schema(extension: bool) -> dict[str, Any]:
    column = {
        "name": "io.debezium.connector.schema.Column", "optional": False, "type": "struct", "version": 1,
        "fields": [
            _field("name", False, "string"), _field("jdbcType", False, "int32"), _field("nativeType", True, "int32"),
            _field("typeName", False, "string"), _field("typeExpression", True, "string"),
            _field("charsetName", True, "string"), _field("length", True, "int32"), _field("scale", True, "int32"),
            _field("position", False, "int32"), _field("optional", True, "boolean"),
            _field("autoIncremented", True, "boolean"), _field("generated", True, "boolean"),
            _field("comment", True, "string"), _field("defaultValueExpression", True, "string"),
            _field("enumValues", True, "array", items=_strings()),
        ],
    }
    table = {
        "field": "table", "optional": True, "type": "struct", "name": "io.debezium.connector.schema.Table",
        "version": 1,
        "fields": [
            _field("defaultCharsetName", True, "string"),
            _field("primaryKeyColumnNames", True, "array", items=_strings()),
            _field("columns", False, "array", items=column),
            _field("comment", True, "string"),
        ],
    }
    change = {
        "name": "io.debezium.connector.schema.Change", "optional": False, "type": "struct", "version": 1,
        "fields": [_field("type", False, "string"), _field("id", False, "string"), table],
    }
    return {
        "optional": False,
        "type": "struct",
        "version": 1,
        "name": "io.debezium.connector.mysql.SchemaChangeValue",
        "fields": [
            source_schema("", extension),
            _field("ts_ms", False, "int64"),
            _field("databaseName", True, "string"),
            _field("schemaName", True, "string"),
            _field("ddl", True, "string"),
            _field("tableChanges", False, "array", items=change),
        ],
    }


# -- a DDL's table description (tableChanges[].table) ----------------------------

# java.sql.Types codes of TiCDC's MySQLType2JdbcType.
_JDBC = {
    TINY: 5, SHORT: 5, LONG: 4, INT24: 4, YEAR: 4, FLOAT: 6, DOUBLE: 8, NULL: 0, NEWDECIMAL: 3, TIMESTAMP: 2014,
    DATETIME: 93, LONGLONG: -5, DATE: 91, DURATION: 92, ENUM: 1, SET: 1, GEOMETRY: 1111, BIT: -7, JSON: 1111,
}
#: mysql.GetDefaultFieldLengthAndDecimal: type code -> (flen, decimal).
_DEFAULT_LENGTH = {
    TINY: (4, 0), SHORT: (6, 0), INT24: (9, 0), LONG: (11, 0), LONGLONG: (20, 0), DOUBLE: (22, -1), FLOAT: (12, -1),
    NEWDECIMAL: (10, 0), DURATION: (10, 0), DATE: (10, 0), TIMESTAMP: (19, 0), DATETIME: (19, 0), YEAR: (4, 0),
    STRING: (1, 0), VARCHAR: (5, 0), VARSTRING: (5, 0), BIT: (1, 0), JSON: (4294967295, 0), TINYBLOB: (255, 0),
    BLOB: (65535, 0), MEDIUMBLOB: (16777215, 0), LONGBLOB: (4294967295, 0), ENUM: (-1, 0), SET: (-1, 0),
    NULL: (0, 0), GEOMETRY: (-1, 0),
}


def jdbc_type(column: Column) -> int:
    """TiCDC's ``MySQLType2JdbcType``."""
    tp = column.tp
    if tp in BLOBS:
        return 2004 if column.binary else 12
    if tp in (VARCHAR, VARSTRING):
        return -3 if column.binary else 12
    if tp == STRING:
        return -2 if column.binary else 1
    return _JDBC.get(tp, 12)


def _flen_decimal(column: Column) -> tuple[int, int]:
    """The column's flen and decimal as TiDB stores them (defaults filled in at DDL time)."""
    default_flen, default_decimal = _DEFAULT_LENGTH.get(column.tp, (-1, -1))
    tp = column.tp
    flen = column.flen
    if flen is None:
        flen = default_flen
        if tp in (TINY, SHORT, INT24, LONG) and column.unsigned:
            flen -= 1
    decimal = column.decimal
    if decimal is None:
        decimal = default_decimal
    return flen, decimal


def _length(column: Column) -> int:
    """``getLen``."""
    tp = column.tp
    flen, decimal = _flen_decimal(column)
    default_flen = _DEFAULT_LENGTH.get(tp, (-1, -1))[0]
    if tp in (TIMESTAMP, DURATION, DATETIME):
        return decimal
    if tp in (BIT, VARCHAR, STRING, VARSTRING, LONGLONG, FLOAT, DOUBLE):
        return flen if flen != default_flen else -1
    if tp in (TINY, SHORT, INT24, LONG):
        if column.unsigned:
            default_flen -= 1
        if tp == TINY and column.zerofill:
            default_flen += 1
        return flen if flen != default_flen else -1
    if tp in (YEAR, NEWDECIMAL):
        return flen
    if tp == SET:
        return 2 * len(column.elems) - 1
    if tp == ENUM:
        return 1
    return -1


def _suffix(column: Column) -> str:
    """``getSuffix`` for the types that reach it."""
    tp = column.tp
    flen, decimal = _flen_decimal(column)
    default_flen, default_decimal = _DEFAULT_LENGTH.get(tp, (-1, -1))
    if tp == DOUBLE and decimal not in (default_decimal, 0, -1):
        return f"({flen if flen != -1 else default_flen},{decimal})"
    if tp == NULL:
        return "(0)"
    return ""


def expression_and_name(column: Column) -> tuple[str, str]:
    """``getExpressionAndName``: (typeExpression, typeName)."""
    prefix = column.type_name.upper()
    if column.tp in (YEAR, BIT, VARCHAR, STRING, NEWDECIMAL):
        return prefix, prefix
    suffix = " UNSIGNED ZEROFILL" if column.zerofill else (" UNSIGNED" if column.unsigned else "")
    return prefix + _suffix(column) + suffix, prefix + suffix


_CHARSET_TYPES = frozenset((TIMESTAMP, DURATION, NEWDECIMAL, STRING, VARCHAR, BLOB, TINYBLOB, MEDIUMBLOB, LONGBLOB, ENUM, SET))


def charset_name(column: Column) -> str | None:
    """``getCharset``: the text charset of string, enum and set columns."""
    if column.binary or column.tp not in _CHARSET_TYPES or column.tp in (TIMESTAMP, DURATION, NEWDECIMAL):
        return None
    return column.charset or "utf8mb4"


_NOW = frozenset(("current_timestamp", "current_timestamp()", "now()", "localtimestamp", "localtimestamp()"))


def table_change_column(column: Column, created: CreatedColumn | None) -> dict[str, Any]:
    """One entry of ``tableChanges[].table.columns``, in TiCDC's field order."""
    expression, name = expression_and_name(column)
    default = created.default if created is not None else None
    if default is not None and default.lower() in _NOW:
        default = "1970-01-01 00:00:00"
    length = _length(column)
    scale = _flen_decimal(column)[1] if column.tp in (NEWDECIMAL, FLOAT, DOUBLE) else -1
    auto = created.auto_increment if created is not None else False
    return {
        "name": column.name,
        "jdbcType": jdbc_type(column),
        "nativeType": None,
        "comment": None,
        "defaultValueExpression": default,
        "enumValues": [f"'{member}'" for member in column.elems] if column.elems else None,
        "typeName": name,
        "typeExpression": expression,
        "charsetName": charset_name(column),
        "length": length if length != -1 else None,
        "scale": scale if scale != -1 else None,
        "position": column.position + 1,
        "optional": column.nullable,
        "autoIncremented": auto,
        "generated": auto,
    }
