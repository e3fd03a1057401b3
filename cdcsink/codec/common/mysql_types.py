"""MySQL type names (as the input's ``columns`` gives them) to protocol codes.

- ``mysql_code``: the MySQL/TiDB type byte open-protocol puts in ``t``.
- ``java_type``: the java.sql.Types code canal-json puts in ``sqlType``
  (TiCDC's MySQLType2JavaType mapping).
- flags: binary (1) and unsigned (128) as TiCDC's column flags.

An unknown type name maps to varchar: a strange type must never drop an event.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

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
