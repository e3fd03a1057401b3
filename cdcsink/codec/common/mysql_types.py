"""MySQL types as the protocols name them.

From a type string (``type_info``, what open-protocol reads):

- ``mysql_code``: the MySQL/TiDB type byte open-protocol puts in ``t``.
- ``java_type``: the java.sql.Types code.
- flags: binary (1) and unsigned (128) as TiCDC's column flags.

From the table model (``canal_java_type``, ``canal_unsigned_promotion``,
``mysql_type_name``): canal-json's ``sqlType`` and ``mysqlType`` exactly as
TiCDC derives them from a column's TiDB field type.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from cdcsink.codec import schema as _schema

# MySQL protocol type codes.
TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, TIMESTAMP, LONGLONG, INT24 = 1, 2, 3, 4, 5, 6, 7, 8, 9
DATE, DURATION, DATETIME, YEAR, VARCHAR, BIT = 10, 11, 12, 13, 15, 16
JSON, NEWDECIMAL, ENUM, SET, TINYBLOB, MEDIUMBLOB, LONGBLOB, BLOB, VARSTRING, STRING, GEOMETRY = (
    245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255
)

# Column flags (TiCDC model.ColumnFlagType).
BINARY_FLAG = 1
HANDLE_KEY_FLAG = 2
PRIMARY_KEY_FLAG = 8
NULLABLE_FLAG = 64
UNSIGNED_FLAG = 128

_BY_NAME: dict[str, tuple[int, bool]] = {
    # name: (mysql code, binary)
    "tinyint": (TINY, False), "bool": (TINY, False), "boolean": (TINY, False),
    "smallint": (SHORT, False), "mediumint": (INT24, False), "int": (LONG, False), "integer": (LONG, False),
    "bigint": (LONGLONG, False), "float": (FLOAT, False), "double": (DOUBLE, False), "real": (DOUBLE, False),
    "decimal": (NEWDECIMAL, False), "numeric": (NEWDECIMAL, False), "dec": (NEWDECIMAL, False),
    "timestamp": (TIMESTAMP, False), "date": (DATE, False), "time": (DURATION, False),
    "datetime": (DATETIME, False), "year": (YEAR, False),
    "varchar": (VARCHAR, False), "char": (STRING, False), "binary": (STRING, True), "varbinary": (VARCHAR, True),
    "bit": (BIT, False), "json": (JSON, False), "enum": (ENUM, False), "set": (SET, False),
    "tinytext": (TINYBLOB, False), "mediumtext": (MEDIUMBLOB, False), "longtext": (LONGBLOB, False), "text": (BLOB, False),
    "tinyblob": (TINYBLOB, True), "mediumblob": (MEDIUMBLOB, True), "longblob": (LONGBLOB, True), "blob": (BLOB, True),
    "geometry": (GEOMETRY, True), "null": (NULL, False),
}

_JAVA = {
    TINY: -6, SHORT: 5, LONG: 4, FLOAT: 7, DOUBLE: 8, NULL: 0, NEWDECIMAL: 3, TIMESTAMP: 93, DATETIME: 93,
    LONGLONG: -5, INT24: 4, DATE: 91, DURATION: 92, YEAR: 12, ENUM: 4, SET: -7, BIT: -7, JSON: 12,
    GEOMETRY: -2,
}
_BLOBS = frozenset((TINYBLOB, MEDIUMBLOB, LONGBLOB, BLOB))
_NAME = re.compile(r"^\s*([a-z]+)")


class TypeInfo(NamedTuple):
    mysql_code: int
    java_type: int
    binary: bool
    unsigned: bool

    @property
    def flags(self) -> int:
        return (BINARY_FLAG if self.binary else 0) | (UNSIGNED_FLAG if self.unsigned else 0)

    @property
    def is_blob(self) -> bool:
        return self.mysql_code in _BLOBS


@lru_cache(maxsize=4096)
def type_info(sql_type: str) -> TypeInfo:
    lowered = sql_type.lower()
    m = _NAME.match(lowered)
    code, binary = _BY_NAME.get(m.group(1) if m else "", (VARCHAR, False))
    unsigned = "unsigned" in lowered
    if code in _BLOBS:
        java = 2004 if binary else 2005
    elif code in (VARCHAR, VARSTRING):
        java = 2004 if binary else 12
    elif code == STRING:
        java = 2004 if binary else 1
    else:
        java = _JAVA.get(code, 12)
    return TypeInfo(code, java, binary, unsigned)


# ---------------------------------------------------------------------------
# From the table model (cdcsink.codec.schema.Column): what TiCDC derives from a
# column's TiDB field type. These read only the column, so an encoder calls
# them once per table, never per row.
# ---------------------------------------------------------------------------

# java.sql.Types codes (TiCDC's JavaSQLType constants, JDK 1.8).
JAVA_BIT, JAVA_TINYINT, JAVA_SMALLINT, JAVA_INTEGER, JAVA_BIGINT = -7, -6, 5, 4, -5
JAVA_REAL, JAVA_DOUBLE, JAVA_DECIMAL, JAVA_CHAR, JAVA_VARCHAR = 7, 8, 3, 1, 12
JAVA_DATE, JAVA_TIME, JAVA_TIMESTAMP, JAVA_BLOB, JAVA_CLOB = 91, 92, 93, 2004, 2005

_JAVA_BY_CODE = {
    _schema.BIT: JAVA_BIT, _schema.ENUM: JAVA_INTEGER, _schema.SET: JAVA_BIT,
    _schema.DATE: JAVA_DATE, _schema.DATETIME: JAVA_TIMESTAMP, _schema.TIMESTAMP: JAVA_TIMESTAMP,
    _schema.DURATION: JAVA_TIME, _schema.JSON: JAVA_VARCHAR, _schema.NEWDECIMAL: JAVA_DECIMAL,
    _schema.INT24: JAVA_INTEGER, _schema.TINY: JAVA_TINYINT, _schema.SHORT: JAVA_SMALLINT,
    _schema.LONG: JAVA_INTEGER, _schema.LONGLONG: JAVA_BIGINT, _schema.FLOAT: JAVA_REAL,
    _schema.DOUBLE: JAVA_DOUBLE, _schema.YEAR: JAVA_VARCHAR,
}


def canal_java_type(column: _schema.Column) -> int:
    """canal-json ``sqlType`` of a column before any unsigned promotion: TiCDC's
    ``mysqlType2JavaType`` (ticdc ``pkg/sink/codec/canal/helper.go``). Binary
    strings and blobs are BLOB, text blobs CLOB, char CHAR, varchar VARCHAR; a
    type it does not list (geometry) is VARCHAR, as in ticdc (tiflow wrote
    BINARY for geometry)."""
    tp = column.tp
    if tp in _schema.BLOBS:
        return JAVA_BLOB if column.binary else JAVA_CLOB
    if tp in (_schema.VARCHAR, _schema.VARSTRING):
        return JAVA_BLOB if column.binary else JAVA_VARCHAR
    if tp == _schema.STRING:
        return JAVA_BLOB if column.binary else JAVA_CHAR
    return _JAVA_BY_CODE.get(tp, JAVA_VARCHAR)


#: Unsigned integer types TiCDC promotes when a value does not fit the signed
#: range: type code -> (largest signed value, the java type above it).
_PROMOTIONS = {
    _schema.TINY: (2**7 - 1, JAVA_SMALLINT),
    _schema.SHORT: (2**15 - 1, JAVA_INTEGER),
    _schema.LONG: (2**31 - 1, JAVA_BIGINT),
    _schema.LONGLONG: (2**63 - 1, JAVA_DECIMAL),
}


def canal_unsigned_promotion(column: _schema.Column) -> tuple[int, int] | None:
    """For an unsigned tinyint, smallint, int or bigint: (the signed maximum, the
    ``sqlType`` a larger value gets), as TiCDC's ``getJavaSQLType`` / ticdc's
    ``formatColumnValue`` decide per value (canal's LogEventConvert rule). A
    mediumint is never promoted; None for every other column."""
    return _PROMOTIONS.get(column.tp) if column.unsigned else None


#: Display widths TiDB gives integer columns declared without one (signed, unsigned).
_DEFAULT_INT_WIDTH = {
    _schema.TINY: (4, 3), _schema.SHORT: (6, 5), _schema.INT24: (9, 8),
    _schema.LONG: (11, 10), _schema.LONGLONG: (20, 20),
}
_OUTPUT_FORMAT = {"\0": "\\0", "'": "''", "\n": "\\n", "\r": "\\r"}


def mysql_type_name(column: _schema.Column, full: bool = False) -> str:
    """canal-json ``mysqlType`` (TiCDC's ``GetMySQLType``).

    ``full=False``: TiDB's type name (``types.TypeToStr``: ``varchar``,
    ``varbinary``, ``text``, ``blob``, ``tinyint`` for bool) with ``unsigned``
    and ``zerofill`` appended (never for ``bit`` and ``year``; zerofill never
    for ``year``). ``full=True`` (``content-compatible``): the column's
    ``GetTypeDesc``, i.e. ``FieldType.CompactStr`` with TiDB's default widths
    (``int(11)``, ``int(10) unsigned``, ``decimal(10,0)``, ``char(1)``,
    ``bit(1)``, ``year(4)``), fractional seconds only when not 0, float/double
    lengths only with a scale, enum/set members quoted as TiDB writes them.
    """
    name = column.type_name
    if full:
        name += _compact_suffix(column)
    if column.unsigned and column.tp not in (_schema.BIT, _schema.YEAR):
        name += " unsigned"
    if column.zerofill and column.tp != _schema.YEAR:
        name += " zerofill"
    return name


def _compact_suffix(column: _schema.Column) -> str:
    tp, flen, decimal = column.tp, column.flen, column.decimal
    if tp in (_schema.ENUM, _schema.SET):
        members = ("".join(_OUTPUT_FORMAT.get(ch, ch) for ch in member) for member in column.elems)
        return "('" + "','".join(members) + "')"
    if tp in (_schema.TIMESTAMP, _schema.DATETIME, _schema.DURATION):
        return f"({decimal})" if decimal else ""
    if tp in (_schema.FLOAT, _schema.DOUBLE):
        return f"({flen if flen is not None else (12 if tp == _schema.FLOAT else 22)},{decimal})" if decimal else ""
    if tp == _schema.NEWDECIMAL:
        return f"({flen if flen is not None else 10},{decimal or 0})"
    if tp in _DEFAULT_INT_WIDTH:
        signed, unsigned = _DEFAULT_INT_WIDTH[tp]
        return f"({flen if flen is not None else (unsigned if column.unsigned else signed)})"
    if tp == _schema.BIT:
        return f"({flen if flen is not None else 1})"
    if tp == _schema.STRING:
        return f"({flen if flen is not None else 1})"  # char, binary: CHAR(1) when no length is given
    if tp in (_schema.VARCHAR, _schema.VARSTRING):
        return f"({flen})" if flen is not None else ""
    if tp == _schema.YEAR:
        return "(4)"
    return ""
