"""The one table model every codec reads: a table's columns and key, parsed
once per table from what the input declares.

The input declares each column either as a MySQL type string
(``"varchar(64)"``, ``"int(10) unsigned NOT NULL"``, ``"enum('a','b')"``) or as
an object with the type and attributes the string cannot carry::

    {"type": "varchar(64)", "nullable": false, "charset": "binary",
     "unique": true, "indexed": true, "generated": false}

Attributes that are not given default as MySQL does: a column is nullable
unless it is in the primary key or its type says ``NOT NULL``; ``binary``,
``varbinary`` and the ``blob`` types have the binary charset, every other
string type a text charset. The normalised type name is TiDB's
(``types.TypeToStr``): ``varchar`` with the binary charset is ``varbinary``,
``text`` is ``blob``, ``bool`` is ``tinyint``.

Values in a row event's images are held in one canonical form per type
family, whatever the input wrote (the input decoder converts and checks):

============================  ==========================================
type family                   canonical value
============================  ==========================================
integers, ``year``, ``bit``   ``int`` (a JSON bool becomes 1/0)
``float``, ``double``         ``float``
``decimal``                   ``str``: the decimal text, exactly the scale's
                              fraction digits (``"9.90"``), no ``-0``
text strings                  ``str``
binary strings and blobs      ``bytes``
date and time types           ``str``: ``YYYY-MM-DD[ hh:mm:ss]`` /
                              ``[-]hh:mm:ss``, exactly fsp fraction digits
``enum``                      ``int``: the member's 1-based index
``set``                       ``int``: the bitmask of its members
``json``                      ``str``: the JSON text as TiDB prints it
============================  ==========================================

(:mod:`cdcsink.decode.values` has each type's input forms and checks.)

An unknown type name is an error: nothing is encoded with a guessed type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# MySQL protocol type codes (what TiDB's parser names mysql.TypeXxx).
TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, TIMESTAMP, LONGLONG, INT24 = 1, 2, 3, 4, 5, 6, 7, 8, 9
DATE, DURATION, DATETIME, YEAR, VARCHAR, BIT = 10, 11, 12, 13, 15, 16
JSON, NEWDECIMAL, ENUM, SET, TINYBLOB, MEDIUMBLOB, LONGBLOB, BLOB, VARSTRING, STRING, GEOMETRY = (
    245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255
)

INTEGERS = frozenset((TINY, SHORT, INT24, LONG, LONGLONG))
BLOBS = frozenset((TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB))
CHARS = frozenset((STRING, VARCHAR, VARSTRING))
TEMPORAL = frozenset((DATE, DATETIME, TIMESTAMP, DURATION))

#: Declared type name (lower case) -> (type code, binary charset by default).
_TYPES: dict[str, tuple[int, bool]] = {
    "tinyint": (TINY, False), "bool": (TINY, False), "boolean": (TINY, False),
    "smallint": (SHORT, False), "mediumint": (INT24, False), "middleint": (INT24, False),
    "int": (LONG, False), "integer": (LONG, False), "bigint": (LONGLONG, False),
    "float": (FLOAT, False), "double": (DOUBLE, False), "real": (DOUBLE, False),
    "decimal": (NEWDECIMAL, False), "numeric": (NEWDECIMAL, False), "dec": (NEWDECIMAL, False),
    "fixed": (NEWDECIMAL, False),
    "date": (DATE, False), "datetime": (DATETIME, False), "timestamp": (TIMESTAMP, False),
    "time": (DURATION, False), "year": (YEAR, False),
    "char": (STRING, False), "varchar": (VARCHAR, False), "binary": (STRING, True), "varbinary": (VARCHAR, True),
    "tinytext": (TINYBLOB, False), "text": (BLOB, False), "mediumtext": (MEDIUMBLOB, False),
    "longtext": (LONGBLOB, False),
    "tinyblob": (TINYBLOB, True), "blob": (BLOB, True), "mediumblob": (MEDIUMBLOB, True),
    "longblob": (LONGBLOB, True),
    "bit": (BIT, False), "json": (JSON, False), "enum": (ENUM, False), "set": (SET, False),
    "geometry": (GEOMETRY, True), "point": (GEOMETRY, True), "linestring": (GEOMETRY, True),
    "polygon": (GEOMETRY, True), "multipoint": (GEOMETRY, True), "multilinestring": (GEOMETRY, True),
    "multipolygon": (GEOMETRY, True), "geometrycollection": (GEOMETRY, True),
}

#: TiDB's types.TypeToStr names, for a text charset.
_TYPE_TO_STR = {
    BIT: "bit", BLOB: "text", DATE: "date", DATETIME: "datetime", NEWDECIMAL: "decimal", DOUBLE: "double",
    ENUM: "enum", FLOAT: "float", GEOMETRY: "geometry", INT24: "mediumint", JSON: "json", LONG: "int",
    LONGLONG: "bigint", LONGBLOB: "longtext", MEDIUMBLOB: "mediumtext", NULL: "null", SET: "set", SHORT: "smallint",
    STRING: "char", DURATION: "time", TIMESTAMP: "timestamp", TINY: "tinyint", TINYBLOB: "tinytext",
    VARCHAR: "varchar", VARSTRING: "var_string", YEAR: "year",
}

#: Every type code the model knows.
KNOWN_TYPES = frozenset(_TYPE_TO_STR)

#: Two-word names, folded before parsing.
_SYNONYMS = (
    (re.compile(r"^double\s+precision\b"), "double"),
    (re.compile(r"^(national\s+)?(char|character)\s+varying\b"), "varchar"),
    (re.compile(r"^national\s+varchar\b|^nvarchar\b"), "varchar"),
    (re.compile(r"^(national\s+)?character\b|^national\s+char\b|^nchar\b"), "char"),
    (re.compile(r"^long\s+varbinary\b"), "mediumblob"),
    (re.compile(r"^long\s+varchar\b|^long\b(?!\s*blob)"), "mediumtext"),
)
_NAME = re.compile(r"\s*([a-z_][a-z0-9_]*)")
_STRING_LITERAL = re.compile(r"\s*'((?:[^'\\]|''|\\.)*)'\s*(,|\))", re.S)
_NUMBER_ARGS = re.compile(r"\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_CHARSET = re.compile(r"\b(?:character\s+set|charset)\s+(\w+)")
_COLLATE = re.compile(r"\bcollate\s+(\w+)")
_OBJECT_KEYS = frozenset(
    ("type", "nullable", "charset", "collation", "unsigned", "zerofill", "unique", "indexed", "generated", "source_type")
)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table, as every codec needs it."""

    name: str
    #: 0-based position in the table's declared column order.
    position: int
    #: The type as the input declared it (what ``content-compatible`` writes, normalised).
    declared: str
    #: MySQL protocol type code (``mysql.TypeXxx``).
    tp: int
    #: TiDB's normalised type name: ``varchar``, ``varbinary``, ``blob``, ``int``, ...
    type_name: str
    #: Display width / length / precision from the parentheses, None when not given.
    flen: int | None = None
    #: Scale of a decimal or fractional seconds of a time type, None when not given.
    decimal: int | None = None
    unsigned: bool = False
    zerofill: bool = False
    #: The binary charset (binary strings and blobs): values are bytes.
    binary: bool = False
    charset: str | None = None
    collation: str | None = None
    nullable: bool = True
    #: Part of the primary key (the handle key events carry).
    primary_key: bool = False
    #: In a unique index (not the primary key).
    unique_key: bool = False
    #: In a non-unique index.
    multiple_key: bool = False
    generated: bool = False
    #: enum / set members, in declared order.
    elems: tuple[str, ...] = ()
    #: False when the column was rebuilt from a message that does not carry its
    #: length, scale, fractional seconds or members (canal-json without
    #: content-compatible, open-protocol): then ``flen``/``decimal``/``elems``
    #: being unset means unknown, not the type's default.
    sized: bool = True
    #: The column's type in the source database when it is not MySQL's (PostgreSQL:
    #: ``numeric(10,2)``, ``jsonb``, ``uuid``), for formats that can carry it.
    source_type: str | None = None

    @property
    def full_type(self) -> str:
        """The declared type, lower case, without NOT NULL / DEFAULT and the like."""
        return _full_type(self.declared)


@dataclass(frozen=True, slots=True)
class TableSchema:
    """A table's columns in declared order, and its handle-key (pk) columns."""

    schema: str
    table: str
    columns: tuple[Column, ...]
    #: Handle-key column names, in key order.
    pk: tuple[str, ...]
    by_name: dict[str, Column] = field(compare=False, repr=False)

    def column(self, name: str) -> Column | None:
        return self.by_name.get(name)


def table_schema(schema: str, table: str, columns: dict[str, Any], pk: list[str] | tuple[str, ...]) -> TableSchema:
    """Parse a row event's ``columns`` and ``pk``; :class:`ValueError` names the
    column and what is wrong with it."""
    if type(columns) is not dict or not columns:
        raise ValueError("columns must be a non-empty object of column name to SQL type")
    keys = set(pk)
    parsed = tuple(parse_column(name, spec, position, name in keys) for position, (name, spec) in enumerate(columns.items()))
    by_name = {column.name: column for column in parsed}
    for name in pk:
        if name not in by_name:
            raise ValueError(f"pk column {name!r} is not in columns")
    return TableSchema(schema, table, parsed, tuple(pk), by_name)


_CACHE: dict[tuple[str, str], tuple[Any, Any, TableSchema]] = {}


def cached_table_schema(schema: str, table: str, columns: dict[str, Any], pk: Any) -> TableSchema:
    """:func:`table_schema`, parsed again only when a table's ``columns`` or ``pk`` change."""
    key = (schema, table)
    cached = _CACHE.get(key)
    if cached is None or not ((cached[0] is columns or cached[0] == columns) and (cached[1] is pk or cached[1] == pk)):
        cached = _CACHE[key] = (columns, pk, table_schema(schema, table, columns, pk))
    return cached[2]


def parse_column(name: str, spec: Any, position: int, primary_key: bool) -> Column:
    """One column from its declaration: a type string or an object with ``type``."""
    attributes: dict[str, Any] = {}
    if type(spec) is dict:
        unknown = sorted(set(spec) - _OBJECT_KEYS)
        if unknown:
            raise ValueError(f"column {name!r}: unknown attribute {unknown[0]!r} (expected {', '.join(sorted(_OBJECT_KEYS))})")
        declared = spec.get("type")
        if type(declared) is not str:
            raise ValueError(f"column {name!r}: type must be a string")
        for key in ("nullable", "unsigned", "zerofill", "unique", "indexed", "generated"):
            if key in spec:
                if type(spec[key]) is not bool:
                    raise ValueError(f"column {name!r}: {key} must be true or false")
                attributes[key] = spec[key]
        for key in ("charset", "collation", "source_type"):
            if key in spec:
                if type(spec[key]) is not str or not spec[key]:
                    raise ValueError(f"column {name!r}: {key} must be a non-empty string")
                attributes[key] = spec[key] if key == "source_type" else spec[key].lower()
    elif type(spec) is str:
        declared = spec
    else:
        raise ValueError(f"column {name!r}: expected a SQL type string or an object with a type")
    try:
        return _column(name, declared, position, primary_key, attributes)
    except ValueError as error:
        raise ValueError(f"column {name!r}: {error}") from None


def _column(name: str, declared: str, position: int, primary_key: bool, attributes: dict[str, Any]) -> Column:
    text = declared.strip().lower()
    for pattern, replacement in _SYNONYMS:
        text = pattern.sub(replacement, text, count=1)
    match = _NAME.match(text)
    if match is None or match.group(1) not in _TYPES:
        word = match.group(1) if match else declared
        raise ValueError(f"unknown MySQL type {word!r} in {declared!r}")
    base = match.group(1)
    tp, binary = _TYPES[base]
    rest = text[match.end() :]
    flen = decimal = None
    elems: tuple[str, ...] = ()
    if tp in (ENUM, SET):
        # Members keep their case: read them from the declared text (the name
        # before them is ASCII, so its end is at the same index there).
        elems, after = _members(declared.strip()[match.end() :], declared)
        rest = after.lower()
    else:
        args = _NUMBER_ARGS.match(rest)
        if args is not None:
            flen = int(args.group(1))
            decimal = int(args.group(2)) if args.group(2) is not None else None
            rest = rest[args.end() :]
        elif rest.lstrip().startswith("("):
            raise ValueError(f"cannot read the length in {declared!r}")
    if base in ("bool", "boolean"):
        flen = 1
    if tp == FLOAT and flen is not None and decimal is None and flen > 24:
        tp = DOUBLE  # FLOAT(p) with p > 24 is a DOUBLE, as in MySQL
    if tp in TEMPORAL and tp != DATE:
        # TIME(6), DATETIME(3): the parentheses give fractional seconds.
        decimal, flen = flen, None
    _check_widths(tp, declared, flen, decimal)
    words = rest.split()
    unsigned = attributes.get("unsigned", "unsigned" in words)
    zerofill = attributes.get("zerofill", "zerofill" in words)
    unsigned = unsigned or zerofill  # ZEROFILL implies UNSIGNED
    charset = attributes.get("charset")
    if charset is None and (found := _CHARSET.search(rest)):
        charset = found.group(1)
    collation = attributes.get("collation")
    if collation is None and (found := _COLLATE.search(rest)):
        collation = found.group(1)
    if charset is not None and tp in CHARS | BLOBS:
        binary = charset == "binary"
    if charset is None and binary:
        charset = "binary"
    not_null = re.search(r"\bnot\s+null\b", rest) is not None
    nullable = attributes.get("nullable", not (primary_key or not_null))
    if primary_key and nullable:
        raise ValueError("a primary-key column cannot be nullable")
    type_name = tidb_type_name(tp, binary)
    return Column(
        name=name,
        position=position,
        declared=declared,
        tp=tp,
        type_name=type_name,
        flen=flen,
        decimal=decimal,
        unsigned=unsigned and tp not in CHARS | BLOBS,
        zerofill=zerofill,
        binary=binary,
        charset=charset,
        collation=collation,
        nullable=nullable,
        primary_key=primary_key,
        unique_key=attributes.get("unique", False),
        multiple_key=attributes.get("indexed", False),
        generated=attributes.get("generated", False),
        elems=elems,
        source_type=attributes.get("source_type"),
    )


def _check_widths(tp: int, declared: str, flen: int | None, decimal: int | None) -> None:
    """Lengths and precisions MySQL and TiDB refuse to declare: what such a column
    would hold, no TiDB table holds, so no TiCDC message carries it."""
    problem = None
    if tp in TEMPORAL and decimal is not None and decimal > 6:
        problem = f"fractional seconds precision {decimal} is more than 6"
    elif tp == NEWDECIMAL and flen is not None and flen > 65:
        problem = f"decimal precision {flen} is more than 65"
    elif tp == NEWDECIMAL and decimal is not None and decimal > 30:
        problem = f"decimal scale {decimal} is more than 30"
    elif tp == NEWDECIMAL and flen is not None and decimal is not None and decimal > flen:
        problem = f"decimal scale {decimal} is more than the precision {flen}"
    elif tp == BIT and flen is not None and not 1 <= flen <= 64:
        problem = f"bit({flen}): at {'most 64 bits' if flen > 64 else 'least 1 bit'}"
    if problem is not None:
        raise ValueError(f"{problem} in {declared!r}")


def tidb_type_name(tp: int, binary: bool) -> str:
    """TiDB's ``types.TypeToStr``: the type name for a type code and charset
    (``varchar`` with the binary charset is ``varbinary``, ``text`` ``blob``)."""
    name = _TYPE_TO_STR[tp]
    if binary and tp in BLOBS:
        return name.replace("text", "blob")
    if binary and tp in CHARS:
        return name.replace("char", "binary")
    return name


def _members(rest: str, declared: str) -> tuple[tuple[str, ...], str]:
    """enum/set members from ``('a','b''c')``, and what follows the list."""
    if not rest.lstrip().startswith("("):
        raise ValueError(f"enum/set needs its members in parentheses: {declared!r}")
    position = rest.index("(") + 1
    members: list[str] = []
    while True:
        match = _STRING_LITERAL.match(rest, position)
        if match is None:
            raise ValueError(f"cannot read the members of {declared!r}")
        members.append(_unquote(match.group(1)))
        position = match.end()
        if match.group(2) == ")":
            return tuple(members), rest[position:]


def _unquote(text: str) -> str:
    """A SQL string literal's body: ``''`` and backslash escapes undone."""
    return re.sub(r"''|\\(.)", lambda m: "'" if m.group(0) == "''" else m.group(1), text)


def _full_type(declared: str) -> str:
    text = declared.strip()
    cut = re.search(r"\s+(not\s+null|null|default|primary|unique|auto_increment|comment)\b", text, re.I)
    if cut:
        text = text[: cut.start()]
    return text.lower() if "'" not in text else _lower_outside_quotes(text)


def _lower_outside_quotes(text: str) -> str:
    parts = re.split(r"('(?:[^'\\]|''|\\.)*')", text)
    return "".join(part if part.startswith("'") else part.lower() for part in parts)
