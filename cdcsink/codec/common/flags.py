"""TiCDC's column flags (open-protocol's ``f``), from the table model and back.

TiCDC computes them once per table (ticdc ``pkg/sink/codec/open/message.go``
``initColumnFlags``) from TiDB's column info:

- binary (1): the column's charset is ``binary``. TiDB gives that charset to
  every type that is not a string (numbers, dates and times, ``bit``,
  ``json``), and to ``binary``/``varbinary``/``blob`` columns.
- handle key (2): the column is in the handle key (the primary key, or a NOT
  NULL unique key when there is no primary key).
- generated (4), primary key (8), unique key (16), nullable (64), unsigned (128).
- multiple key (32): the column is in a non-unique index, or in any index of
  several columns (TiCDC marks every column of such an index).

cdcsink's input names the handle key (``pk``) and, per column, ``unique``,
``indexed``, ``generated`` and ``nullable``. A ``pk`` column declared
``"unique": true`` is a handle key taken from a NOT NULL unique index (a table
without a primary key): it gets unique (16) instead of primary key (8).
"""

from __future__ import annotations

from cdcsink.codec.schema import BLOBS, CHARS, ENUM, SET, Column, TableSchema

BINARY = 1
HANDLE_KEY = 2
GENERATED = 4
PRIMARY_KEY = 8
UNIQUE_KEY = 16
MULTIPLE_KEY = 32
NULLABLE = 64
UNSIGNED = 128

#: Types TiDB gives a text charset (``typesNeedCharset``); every other type has the binary charset.
CHARSET_TYPES = CHARS | BLOBS | {ENUM, SET}


def has_binary_charset(column: Column) -> bool:
    """TiDB's charset is ``binary``: a binary string or blob, or not a string type at all."""
    return column.binary or column.tp not in CHARSET_TYPES


def column_flags(column: Column, table: TableSchema) -> int:
    """The ``f`` TiCDC writes for ``column`` of ``table``."""
    flags = BINARY if has_binary_charset(column) else 0
    if column.generated:
        flags |= GENERATED
    if column.primary_key:
        flags |= HANDLE_KEY | (UNIQUE_KEY if column.unique_key else PRIMARY_KEY)
        if len(table.pk) > 1:
            flags |= MULTIPLE_KEY
    elif column.unique_key:
        flags |= UNIQUE_KEY
    if column.multiple_key:
        flags |= MULTIPLE_KEY
    if column.nullable:
        flags |= NULLABLE
    if column.unsigned:
        flags |= UNSIGNED
    return flags
