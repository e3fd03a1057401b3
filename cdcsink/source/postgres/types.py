"""PostgreSQL column types as the table model declares them, and their values.

pgoutput sends each value in the type's text output form (the replication
connection sets ``DateStyle=ISO``, ``TimeZone=UTC``, ``IntervalStyle=postgres``
and ``extra_float_digits=3``, so the forms do not depend on the server's
defaults). Each PostgreSQL type maps to the MySQL-style type the encoders
need (:func:`declare`), keeping the original type in the declaration's
``source_type``; :func:`parser` turns the text into the input form the
column's converter (:func:`cdcsink.decode.values.column_converter`) checks and
makes canonical, so a PostgreSQL row and an NDJSON row of the same values are
encoded alike.

A type with no MySQL counterpart (arrays, ranges, ``interval``, ``uuid``,
network types, user-defined types and enums, unconstrained ``numeric``) is
sent as text, exactly as PostgreSQL prints it.
"""

from __future__ import annotations

from typing import Any, Callable

#: Built-in type OIDs (pg_type.dat): name, and how it is declared.
BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, XML, FLOAT4, FLOAT8, MONEY, BPCHAR, VARCHAR, DATE, TIME = 114, 142, 700, 701, 790, 1042, 1043, 1082, 1083
TIMESTAMP, TIMESTAMPTZ, INTERVAL, TIMETZ, BIT, VARBIT, NUMERIC, UUID, JSONB = 1114, 1184, 1186, 1266, 1560, 1562, 1700, 2950, 3802

#: OID -> the PostgreSQL name used in ``source_type`` (others come from pgoutput's Type messages).
BUILTIN_NAMES: dict[int, str] = {
    BOOL: "boolean", BYTEA: "bytea", CHAR: '"char"', NAME: "name", INT8: "bigint", INT2: "smallint", INT4: "integer",
    TEXT: "text", OID: "oid", JSON: "json", XML: "xml", FLOAT4: "real", FLOAT8: "double precision", MONEY: "money",
    BPCHAR: "character", VARCHAR: "character varying", DATE: "date", TIME: "time without time zone",
    TIMESTAMP: "timestamp without time zone", TIMESTAMPTZ: "timestamp with time zone", INTERVAL: "interval",
    TIMETZ: "time with time zone", BIT: "bit", VARBIT: "bit varying", NUMERIC: "numeric", UUID: "uuid", JSONB: "jsonb",
    650: "cidr", 869: "inet", 829: "macaddr", 774: "macaddr8", 600: "point", 3614: "tsvector", 1007: "integer[]",
    1016: "bigint[]", 1009: "text[]", 1015: "character varying[]", 3904: "int4range", 3926: "int8range",
}

#: The largest precision and scale a MySQL decimal takes; a wider numeric is sent as text.
MAX_DECIMAL_PRECISION, MAX_DECIMAL_SCALE = 65, 30


def _fsp(typmod: int) -> int:
    """Fractional second digits of a time type (6 when not given)."""
    return typmod if 0 <= typmod <= 6 else 6


def _length(typmod: int) -> int | None:
    """The declared length of a character type (typmod holds it plus 4)."""
    return typmod - 4 if typmod >= 4 else None


def source_type(oid: int, typmod: int, name: str) -> str:
    """The PostgreSQL type as ``format_type`` would show it, near enough: ``numeric(10,2)``."""
    if oid == NUMERIC and typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        return f"numeric({precision},{scale})"
    if oid in (BPCHAR, VARCHAR) and _length(typmod) is not None:
        return f"{name}({_length(typmod)})"
    if oid in (BIT, VARBIT) and typmod >= 0:
        return f"{name}({typmod})"
    if oid in (TIME, TIMETZ, TIMESTAMP, TIMESTAMPTZ) and 0 <= typmod <= 6:
        base, _, zone = name.partition(" ")
        return f"{base}({typmod}) {zone}"
    return name


def declare(oid: int, typmod: int) -> str:
    """The MySQL-style type a column of PostgreSQL type ``oid`` (``typmod``) is declared with."""
    if oid == BOOL:
        return "tinyint(1)"
    if oid == INT2:
        return "smallint"
    if oid == INT4:
        return "int"
    if oid == INT8:
        return "bigint"
    if oid == OID:
        return "int unsigned"
    if oid == FLOAT4:
        return "float"
    if oid == FLOAT8:
        return "double"
    if oid == NUMERIC and typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        if precision <= MAX_DECIMAL_PRECISION and scale <= MAX_DECIMAL_SCALE and scale <= precision:
            return f"decimal({precision},{scale})"
        return "longtext"
    if oid == DATE:
        return "date"
    if oid == TIMESTAMP:
        return f"datetime({_fsp(typmod)})"
    if oid == TIMESTAMPTZ:
        return f"timestamp({_fsp(typmod)})"
    if oid == TIME:
        return f"time({_fsp(typmod)})"
    if oid in (JSON, JSONB):
        return "json"
    if oid == BYTEA:
        return "longblob"
    if oid == BPCHAR:
        length = _length(typmod)
        return f"char({length})" if length is not None and length <= 255 else "longtext"
    if oid == VARCHAR:
        length = _length(typmod)
        return f"varchar({length})" if length is not None else "longtext"
    if oid == NAME:
        return "varchar(64)"
    if oid == CHAR:
        return "char(1)"
    if oid == UUID:
        return "char(36)"
    if oid == BIT and 1 <= typmod <= 64:
        return f"bit({typmod})"
    return "longtext"  # text, and every type without a MySQL counterpart: its text form


Parse = Callable[[str], Any]


def _bool(text: str) -> int:
    return 1 if text == "t" else 0


def _bytea(text: str) -> dict[str, str]:
    if not text.startswith("\\x"):
        raise ValueError(f"bytea {text[:20]!r} is not in hex form (bytea_output = hex)")
    return {"hex": text[2:]}


def _timestamptz(text: str) -> str:
    """``2024-01-01 10:00:00.5+00`` (TimeZone=UTC) without its offset."""
    if text.endswith("+00"):
        return text[:-3]
    raise ValueError(f"timestamp with time zone {text!r} is not in UTC (the connection sets TimeZone=UTC)")


def _bits(text: str) -> int:
    return int(text, 2)


def _text(text: str) -> str:
    return text


def parser(oid: int, typmod: int) -> Parse:
    """Text output of a value of type ``oid`` -> the input form its declared column converts."""
    declared = declare(oid, typmod)
    if oid == BOOL:
        return _bool
    if oid in (INT2, INT4, INT8, OID):
        return int
    if oid in (FLOAT4, FLOAT8):
        return float  # NaN and infinities are refused by the column (JSON has no such numbers)
    if oid == BYTEA:
        return _bytea
    if oid == TIMESTAMPTZ:
        return _timestamptz
    if declared.startswith("bit("):
        return _bits
    return _text
