"""What a DDL statement says about its table, for the protocols whose DDL
messages describe the table (debezium ``tableChanges``, maxwell ``def``/``old``).

TiCDC takes the table from TiDB's schema after the DDL ran. cdcsink's input
carries only the statement, so the table is known:

- from the statement itself for ``CREATE TABLE t (col type ..., PRIMARY KEY
  (...))`` (its column definitions are read as the input's ``columns`` are);
- from the rows already sent for a DDL that leaves the columns as they were
  (renames, indexes, comments, charset, partitions, AUTO_INCREMENT, TRUNCATE):
  the encoder passes the table model of the last row it encoded;
- not at all for a DDL that changes the columns (ADD/DROP/MODIFY COLUMN,
  several changes in one ALTER, primary-key changes), or ``CREATE TABLE ...
  LIKE`` / ``AS SELECT``: None, and the protocol says so in its own way.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from cdcsink.codec.common import ddl_kind
from cdcsink.codec.schema import TableSchema, parse_column

#: Actions after which the table has the columns it had before.
COLUMNS_UNCHANGED = frozenset((
    ddl_kind.RENAME_TABLE, ddl_kind.RENAME_TABLES, ddl_kind.ADD_INDEX, ddl_kind.DROP_INDEX, ddl_kind.RENAME_INDEX,
    ddl_kind.ALTER_INDEX_VISIBILITY, ddl_kind.REBASE_AUTO_ID, ddl_kind.MODIFY_TABLE_COMMENT,
    ddl_kind.MODIFY_TABLE_CHARSET_AND_COLLATE, ddl_kind.ADD_TABLE_PARTITION, ddl_kind.DROP_TABLE_PARTITION,
    ddl_kind.TRUNCATE_TABLE_PARTITION, ddl_kind.REORGANIZE_PARTITION, ddl_kind.EXCHANGE_TABLE_PARTITION,
    ddl_kind.ALTER_TABLE_PARTITIONING, ddl_kind.REMOVE_PARTITIONING, ddl_kind.TRUNCATE_TABLE, ddl_kind.DROP_TABLE,
    ddl_kind.SET_DEFAULT_VALUE,
))

_NAME = r"(?:`(?:[^`]|``)*`|[^\s,.()`;]+)"
_QUALIFIED = rf"({_NAME})(?:\s*\.\s*({_NAME}))?"
_CREATE = re.compile(
    rf"^\s*create\s+(?:global\s+|local\s+)?(?:temporary\s+)?table\s+(?:if\s+not\s+exists\s+)?{_QUALIFIED}\s*\(",
    re.I | re.S,
)
_RENAME = re.compile(rf"^\s*rename\s+tables?\s+{_QUALIFIED}\s+to\s+{_QUALIFIED}", re.I | re.S)
_EXCHANGE = re.compile(rf"\bexchange\s+partition\s+{_NAME}\s+with\s+table\s+{_QUALIFIED}", re.I | re.S)
_CONSTRAINT = re.compile(
    r"^(?:constraint\b|primary\s+key\b|unique\b|key\b|index\b|fulltext\b|spatial\b|foreign\s+key\b|check\b|vector\b|columnar\b)",
    re.I,
)
_TABLE_PK = re.compile(r"^(?:constraint\s+(?:\S+\s+)?)?primary\s+key\s*(?:\w+\s*)?\((.*)\)", re.I | re.S)
_INLINE_PK = re.compile(r"\bprimary\s+key\b|(?<!unique\s)(?<!\w)\bkey\b", re.I)
_STRINGS = re.compile(r"'(?:[^'\\]|''|\\.)*'|\"(?:[^\"\\]|\"\"|\\.)*\"", re.S)
_DEFAULT = re.compile(r"\bdefault\s+('(?:[^'\\]|''|\\.)*'|-?[\w.+]+(?:\(\))?)", re.I | re.S)
_AUTO_INCREMENT = re.compile(r"\bauto_increment\b", re.I)


def unquote_name(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _qualified(match: re.Match[str], first: int, default_schema: str) -> tuple[str, str]:
    one, two = match.group(first), match.group(first + 1)
    return (unquote_name(one), unquote_name(two)) if two is not None else (default_schema, unquote_name(one))


def renamed_from(query: str, schema: str) -> tuple[str, str] | None:
    """``RENAME TABLE a TO b``: the old (schema, table); None for other statements."""
    match = _RENAME.match(query)
    return _qualified(match, 1, schema) if match else None


def exchanged_with(query: str, schema: str) -> tuple[str, str] | None:
    """``ALTER TABLE t EXCHANGE PARTITION p WITH TABLE u``: u as (schema, table)."""
    match = _EXCHANGE.search(query)
    return _qualified(match, 1, schema) if match else None


class CreatedColumn:
    """What a CREATE TABLE column definition adds to the table model."""

    __slots__ = ("default", "auto_increment")

    def __init__(self, default: str | None, auto_increment: bool) -> None:
        self.default = default
        self.auto_increment = auto_increment


def created_table(query: str, schema: str, table: str) -> tuple[TableSchema, dict[str, CreatedColumn]] | None:
    """The table a ``CREATE TABLE`` statement defines, with each column's
    default and auto-increment attribute; None when the statement is not a
    CREATE TABLE with column definitions or a definition cannot be read."""
    match = _CREATE.match(query)
    if match is None:
        return None
    body = _parenthesized(query, match.end() - 1)
    if body is None:
        return None
    columns: dict[str, Any] = {}
    extras: dict[str, CreatedColumn] = {}
    pk: list[str] = []
    for item in _top_level(body):
        if _CONSTRAINT.match(item):
            found = _TABLE_PK.match(item)
            if found:
                pk = [unquote_name(part.strip().split("(")[0].split()[0]) for part in _top_level(found.group(1))]
            continue
        name_match = re.match(_NAME, item)
        if name_match is None:
            return None
        name = unquote_name(name_match.group())
        definition = item[name_match.end() :].strip()
        skeleton = _STRINGS.sub("''", definition)
        if _INLINE_PK.search(skeleton):
            pk.append(name)
        default = _DEFAULT.search(definition)
        extras[name] = CreatedColumn(
            _default_text(default.group(1)) if default else None, _AUTO_INCREMENT.search(skeleton) is not None
        )
        columns[name] = _type_part(definition)
    if not columns:
        return None
    try:
        keys = set(pk)
        parsed = tuple(parse_column(name, spec, i, name in keys) for i, (name, spec) in enumerate(columns.items()))
    except ValueError:
        return None
    by_name = {column.name: column for column in parsed}
    if any(name not in by_name for name in pk):
        return None
    return TableSchema(schema, table, parsed, tuple(pk), by_name), extras


def _default_text(raw: str) -> str | None:
    if raw.startswith("'"):
        return re.sub(r"''|\\(.)", lambda m: "'" if m.group(0) == "''" else m.group(1), raw[1:-1])
    return None if raw.lower() == "null" else raw


def _type_part(definition: str) -> str:
    """A column definition without the clauses the table model does not read
    (keys, defaults, comments), so that words inside them are not taken for
    attributes; NOT NULL and the charset stay."""
    not_null = re.search(r"\bnot\s+null\b", _STRINGS.sub("''", definition), re.I) is not None
    cut = re.search(
        r"\s(?:default|comment|primary|unique|key|auto_increment|generated|as\s*\(|references|check|on\s+update|null|not\s+null)\b",
        _mask_strings(definition),
        re.I,
    )
    head = definition[: cut.start()] if cut else definition
    return head.strip() + (" NOT NULL" if not_null else "")


def _mask_strings(text: str) -> str:
    """``text`` with the content of string literals replaced by spaces (same length)."""
    return _STRINGS.sub(lambda m: "'" + " " * (len(m.group()) - 2) + "'", text)


def _outside_quotes(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of each character of ``text`` from ``start`` that is not
    inside a quoted string or identifier (backslash escapes skipped in quotes)."""
    i = start
    quote = ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote != "`":
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        else:
            yield i, char
        i += 1


def _parenthesized(text: str, start: int) -> str | None:
    """The text inside the parentheses opening at ``start``."""
    depth = 0
    for i, char in _outside_quotes(text, start):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _top_level(text: str) -> list[str]:
    """``text`` split at commas outside parentheses and quotes."""
    items, depth, start = [], 0, 0
    for i, char in _outside_quotes(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return [item for item in items if item]


def table_after(action: int, query: str, schema: str, table: str | None, known: TableSchema | None) -> TableSchema | None:
    """The table as it is after the DDL, as far as the statement and the rows
    sent before it tell (see the module docstring)."""
    if not table:
        return None
    if action == ddl_kind.CREATE_TABLE:
        created = created_table(query, schema, table)
        return created[0] if created else None
    if action in COLUMNS_UNCHANGED and known is not None:
        return TableSchema(schema, table, known.columns, known.pk, known.by_name)
    return None
