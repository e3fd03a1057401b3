"""What kind of DDL a statement is, from its text (the input carries only the query).

Gives open-protocol's ``t`` (TiDB's ``ActionType``, ``pkg/meta/model/job.go``)
and canal-json's ``type`` (TiCDC's ``convertDdlEventType`` of that action).

TiCDC writes the action of the DDL job TiDB ran. cdcsink reads it off the
statement the way TiCDC's own text classifier does (ticdc
``pkg/sink/codec/common/ddl.go`` ``GetDDLActionType``), with the job types
TiDB really uses where that classifier guesses otherwise (ticdc
``pkg/routing/router_supported_ddl_test.go`` runs each statement in TiDB):

- an ``ALTER TABLE`` with several changes (``ADD COLUMN a INT, DROP COLUMN
  b``, or ``ADD COLUMN (a INT, b INT)``) is one multi-schema change (61);
  ``ALGORITHM=`` and ``LOCK=`` clauses do not count, TiDB ignores them;
- ``ADD [CONSTRAINT c] FOREIGN KEY`` is a multi-schema change too (61: TiDB
  adds the index the key needs alongside);
- ``RENAME TABLE a TO b, c TO d`` is ``ActionRenameTables`` (47);
- ``AUTO_RANDOM_BASE=`` rebases the auto-random base (40), ``RENAME COLUMN``
  modifies a column (12).

A statement it does not recognise is ``ActionNone`` (0, canal ``QUERY``); an
``ALTER TABLE`` change it does not recognise counts as a column change (12).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

# TiDB's ActionType codes (pkg/meta/model/job.go).
NONE, CREATE_SCHEMA, DROP_SCHEMA, CREATE_TABLE, DROP_TABLE = 0, 1, 2, 3, 4
ADD_COLUMN, DROP_COLUMN, ADD_INDEX, DROP_INDEX, ADD_FOREIGN_KEY, DROP_FOREIGN_KEY = 5, 6, 7, 8, 9, 10
TRUNCATE_TABLE, MODIFY_COLUMN, REBASE_AUTO_ID, RENAME_TABLE, SET_DEFAULT_VALUE, SHARD_ROW_ID = 11, 12, 13, 14, 15, 16
MODIFY_TABLE_COMMENT, RENAME_INDEX, ADD_TABLE_PARTITION, DROP_TABLE_PARTITION, CREATE_VIEW = 17, 18, 19, 20, 21
MODIFY_TABLE_CHARSET_AND_COLLATE, TRUNCATE_TABLE_PARTITION, DROP_VIEW, RECOVER_TABLE = 22, 23, 24, 25
MODIFY_SCHEMA_CHARSET_AND_COLLATE, LOCK_TABLE, UNLOCK_TABLE, REPAIR_TABLE, SET_TIFLASH_REPLICA = 26, 27, 28, 29, 30
ADD_PRIMARY_KEY, DROP_PRIMARY_KEY, CREATE_SEQUENCE, ALTER_SEQUENCE, DROP_SEQUENCE = 32, 33, 34, 35, 36
MODIFY_TABLE_AUTO_ID_CACHE, REBASE_AUTO_RANDOM_BASE, ALTER_INDEX_VISIBILITY, EXCHANGE_TABLE_PARTITION = 39, 40, 41, 42
ADD_CHECK_CONSTRAINT, DROP_CHECK_CONSTRAINT, ALTER_CHECK_CONSTRAINT, RENAME_TABLES = 43, 44, 45, 47
ALTER_TABLE_ATTRIBUTES, ALTER_TABLE_PARTITION_ATTRIBUTES, CREATE_PLACEMENT_POLICY = 49, 50, 51
ALTER_PLACEMENT_POLICY, DROP_PLACEMENT_POLICY, ALTER_TABLE_PARTITION_PLACEMENT = 52, 53, 54
MODIFY_SCHEMA_DEFAULT_PLACEMENT, ALTER_TABLE_PLACEMENT, ALTER_CACHE_TABLE, ALTER_NO_CACHE_TABLE = 55, 56, 57, 59
MULTI_SCHEMA_CHANGE, FLASHBACK_CLUSTER, RECOVER_SCHEMA, REORGANIZE_PARTITION, ALTER_TTL_INFO = 61, 62, 63, 64, 65
ALTER_TTL_REMOVE, CREATE_RESOURCE_GROUP, ALTER_RESOURCE_GROUP, DROP_RESOURCE_GROUP = 67, 68, 69, 70
ALTER_TABLE_PARTITIONING, REMOVE_PARTITIONING, ADD_COLUMNAR_INDEX = 71, 72, 73


class DDLKind(NamedTuple):
    canal_type: str
    action: int


def canal_type(action: int) -> str:
    """TiCDC's ``convertDdlEventType`` (tiflow ``pkg/sink/codec/canal/canal_entry.go``,
    ticdc ``pkg/sink/codec/canal/helper.go``)."""
    return _CANAL.get(action, "QUERY")


_CANAL: dict[int, str] = {
    CREATE_TABLE: "CREATE",
    RENAME_TABLE: "RENAME", RENAME_TABLES: "RENAME",
    ADD_INDEX: "CINDEX", ADD_FOREIGN_KEY: "CINDEX", ADD_PRIMARY_KEY: "CINDEX",
    DROP_INDEX: "DINDEX", DROP_FOREIGN_KEY: "DINDEX", DROP_PRIMARY_KEY: "DINDEX",
    DROP_TABLE: "ERASE",
    TRUNCATE_TABLE: "TRUNCATE",
    **dict.fromkeys(
        (
            ADD_COLUMN, DROP_COLUMN, MODIFY_COLUMN, REBASE_AUTO_ID, SET_DEFAULT_VALUE, MODIFY_TABLE_COMMENT,
            RENAME_INDEX, ADD_TABLE_PARTITION, DROP_TABLE_PARTITION, MODIFY_TABLE_CHARSET_AND_COLLATE,
            TRUNCATE_TABLE_PARTITION, ALTER_INDEX_VISIBILITY, MULTI_SCHEMA_CHANGE, REORGANIZE_PARTITION,
            ALTER_TABLE_PARTITIONING, REMOVE_PARTITIONING, 37, 38,  # 37/38: the old ActionAddColumns/DropColumns
        ),
        "ALTER",
    ),
}


@lru_cache(maxsize=1024)
def classify(query: str) -> DDLKind:
    action = _action(_skeleton(query))
    return DDLKind(canal_type(action), action)


# -- reading the statement ------------------------------------------------------

_EXECUTABLE_COMMENT = re.compile(r"/\*(?:!\d*|T!(?:\[[\w,]*\])?)(.*?)\*/", re.S)


def _skeleton(query: str) -> str:
    """The statement in lower case with comments dropped (their content kept for
    MySQL's ``/*! */`` and TiDB's ``/*T! */``), string literals emptied and
    quoted identifiers reduced to ``` `name` ``` without commas, parentheses or
    spaces, so that keywords, commas and parentheses are the statement's own."""
    text = _EXECUTABLE_COMMENT.sub(lambda m: " " + m.group(1) + " ", query)
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"`":
            end = i + 1
            while end < n:
                if text[end] == "\\" and char != "`":
                    end += 2
                    continue
                if text[end] == char:
                    if end + 1 < n and text[end + 1] == char:  # a doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            if char == "`":
                out.append("`" + re.sub(r"[\s,()'\"]", "_", text[i + 1 : end].lower()) + "`")
            else:
                out.append("''")
            i = end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        elif char == "#" or (text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n")):
            end = text.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        else:
            out.append(char.lower())
            i += 1
    return re.sub(r"\s+", " ", "".join(out)).strip().rstrip(";").strip()


def _top_level_items(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return [item for item in items if item]


_NAME = r"(?:`[^`]*`|[^\s,.()`]+)"
_TABLE_NAME = rf"{_NAME}(?:\s?\.\s?{_NAME})?"
_ALTER_TABLE = re.compile(rf"^alter (?:(?:online|offline) )?(?:ignore )?table {_TABLE_NAME}\s?")
_STATEMENTS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"^create (?:database|schema)\b"), CREATE_SCHEMA),
    (re.compile(r"^drop (?:database|schema)\b"), DROP_SCHEMA),
    (re.compile(r"^alter (?:database|schema)\b.*\bplacement policy\b"), MODIFY_SCHEMA_DEFAULT_PLACEMENT),
    (re.compile(r"^alter (?:database|schema)\b"), MODIFY_SCHEMA_CHARSET_AND_COLLATE),
    (re.compile(r"^create (?:or replace )?(?:algorithm ?= ?\w+ )?(?:definer ?= ?\S+ )?(?:sql security \w+ )?view\b"), CREATE_VIEW),
    (re.compile(r"^drop view\b"), DROP_VIEW),
    (re.compile(r"^create (?:vector|columnar) index\b"), ADD_COLUMNAR_INDEX),
    (re.compile(r"^create (?:unique |fulltext |spatial )?index\b"), ADD_INDEX),
    (re.compile(r"^drop index (?:if exists )?`?primary`? on\b"), DROP_PRIMARY_KEY),
    (re.compile(r"^drop index\b"), DROP_INDEX),
    (re.compile(r"^create (?:global |local )?(?:temporary )?table\b"), CREATE_TABLE),
    (re.compile(r"^drop (?:temporary )?table\b"), DROP_TABLE),
    (re.compile(r"^truncate (?:table )?.*\bpartition\b"), TRUNCATE_TABLE_PARTITION),
    (re.compile(r"^truncate\b"), TRUNCATE_TABLE),
    (re.compile(r"^(?:flashback|recover) table\b"), RECOVER_TABLE),
    (re.compile(r"^flashback (?:database|schema)\b"), RECOVER_SCHEMA),
    (re.compile(r"^flashback cluster\b"), FLASHBACK_CLUSTER),
    (re.compile(r"^create sequence\b"), CREATE_SEQUENCE),
    (re.compile(r"^alter sequence\b"), ALTER_SEQUENCE),
    (re.compile(r"^drop sequence\b"), DROP_SEQUENCE),
    (re.compile(r"^create placement policy\b"), CREATE_PLACEMENT_POLICY),
    (re.compile(r"^alter placement policy\b"), ALTER_PLACEMENT_POLICY),
    (re.compile(r"^drop placement policy\b"), DROP_PLACEMENT_POLICY),
    (re.compile(r"^create resource group\b"), CREATE_RESOURCE_GROUP),
    (re.compile(r"^alter resource group\b"), ALTER_RESOURCE_GROUP),
    (re.compile(r"^drop resource group\b"), DROP_RESOURCE_GROUP),
    (re.compile(r"^lock tables?\b"), LOCK_TABLE),
    (re.compile(r"^unlock tables?\b"), UNLOCK_TABLE),
    (re.compile(r"^admin repair table\b"), REPAIR_TABLE),
]
_RENAME_TABLE = re.compile(r"^rename tables? ")


def _action(text: str) -> int:
    match = _ALTER_TABLE.match(text)
    if match is not None:
        return _alter_table(text[match.end() :])
    if _RENAME_TABLE.match(text):
        return RENAME_TABLES if len(_top_level_items(text)) > 1 else RENAME_TABLE
    for pattern, action in _STATEMENTS:
        if pattern.match(text):
            return action
    return NONE


# A partition operation names its partitions in a comma-separated list: one change.
_PARTITION_LIST = re.compile(
    r"^(?:drop|truncate|reorganize|analyze|optimize|rebuild|repair|check|coalesce|discard|import|exchange) partition\b"
)
_IGNORED = re.compile(r"^(?:algorithm|lock)\b")


def _alter_table(specs_text: str) -> int:
    if _PARTITION_LIST.match(specs_text):
        specs = [specs_text]
    else:
        specs = [spec for spec in _top_level_items(specs_text) if not _IGNORED.match(spec)]
    if not specs:
        # TiCDC: `ALTER TABLE t TTL_ENABLE='ON'` reaches the downstream as `ALTER TABLE t`.
        return ALTER_TTL_INFO if not specs_text else MODIFY_COLUMN
    if len(specs) > 1:
        return MULTI_SCHEMA_CHANGE
    return _alter_spec(specs[0])


_CONSTRAINT = rf"(?:constraint (?:{_NAME} )?)?"
_COLUMN_LIST = -1  # ADD COLUMN (a INT, b INT): one column is ActionAddColumn, several a multi-schema change
_SPECS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(rf"^add {_CONSTRAINT}primary key\b"), ADD_PRIMARY_KEY),
    (re.compile(rf"^add {_CONSTRAINT}foreign key\b"), MULTI_SCHEMA_CHANGE),
    (re.compile(rf"^add {_CONSTRAINT}check\b"), ADD_CHECK_CONSTRAINT),
    (re.compile(r"^add (?:vector|columnar) (?:index|key)\b"), ADD_COLUMNAR_INDEX),
    (re.compile(rf"^add {_CONSTRAINT}(?:unique|index|key|fulltext|spatial)\b"), ADD_INDEX),
    (re.compile(r"^add (?:first |last )?partition\b"), ADD_TABLE_PARTITION),
    (re.compile(r"^add (?:column )?\("), _COLUMN_LIST),
    (re.compile(r"^add\b"), ADD_COLUMN),
    (re.compile(r"^drop primary key\b"), DROP_PRIMARY_KEY),
    (re.compile(r"^drop (?:index|key) (?:if exists )?`?primary`?$"), DROP_PRIMARY_KEY),
    (re.compile(r"^drop (?:index|key)\b"), DROP_INDEX),
    (re.compile(r"^drop foreign key\b"), DROP_FOREIGN_KEY),
    (re.compile(r"^drop (?:check|constraint)\b"), DROP_CHECK_CONSTRAINT),
    (re.compile(r"^drop (?:first )?partition\b"), DROP_TABLE_PARTITION),
    (re.compile(r"^drop\b"), DROP_COLUMN),
    (re.compile(r"^(?:modify|change)\b"), MODIFY_COLUMN),
    (re.compile(r"^rename (?:index|key)\b"), RENAME_INDEX),
    (re.compile(r"^rename column\b"), MODIFY_COLUMN),
    (re.compile(r"^rename\b"), RENAME_TABLE),
    (re.compile(r"^alter (?:index|key) \S+ (?:visible|invisible)\b"), ALTER_INDEX_VISIBILITY),
    (re.compile(r"^alter (?:check|constraint)\b"), ALTER_CHECK_CONSTRAINT),
    (re.compile(r"^alter partition \S+ placement policy\b"), ALTER_TABLE_PARTITION_PLACEMENT),
    (re.compile(r"^alter partition \S+ attributes\b"), ALTER_TABLE_PARTITION_ATTRIBUTES),
    (re.compile(r"^alter (?:column )?\S+ (?:set|drop) default\b"), SET_DEFAULT_VALUE),
    (re.compile(r"^truncate partition\b"), TRUNCATE_TABLE_PARTITION),
    (re.compile(r"^exchange partition\b"), EXCHANGE_TABLE_PARTITION),
    (re.compile(r"^(?:reorganize|coalesce|split) (?:first |last )?partition\b"), REORGANIZE_PARTITION),
    (re.compile(r"^partition by\b"), ALTER_TABLE_PARTITIONING),
    (re.compile(r"^remove partitioning\b"), REMOVE_PARTITIONING),
    (re.compile(r"^remove ttl\b"), ALTER_TTL_REMOVE),
    (re.compile(r"^set tiflash replica\b"), SET_TIFLASH_REPLICA),
    (re.compile(r"^nocache\b"), ALTER_NO_CACHE_TABLE),
    (re.compile(r"^cache\b"), ALTER_CACHE_TABLE),
    (re.compile(r"^attributes\b"), ALTER_TABLE_ATTRIBUTES),
]
# Table options (several in one clause, space-separated, are a multi-schema change).
_OPTIONS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"\bauto_random_base\b"), REBASE_AUTO_RANDOM_BASE),
    (re.compile(r"\bauto_id_cache\b"), MODIFY_TABLE_AUTO_ID_CACHE),
    (re.compile(r"\bauto_increment\b"), REBASE_AUTO_ID),
    (re.compile(r"\bcomment\b"), MODIFY_TABLE_COMMENT),
    (re.compile(r"\b(?:convert to )?(?:default )?(?:character set|charset|collate)\b"), MODIFY_TABLE_CHARSET_AND_COLLATE),
    (re.compile(r"\bttl(?:_enable|_job_interval)?\b"), ALTER_TTL_INFO),
    (re.compile(r"\bshard_row_id_bits\b"), SHARD_ROW_ID),
    (re.compile(r"\bplacement policy\b"), ALTER_TABLE_PLACEMENT),
]


def _alter_spec(spec: str) -> int:
    for pattern, action in _SPECS:
        if pattern.match(spec):
            if action == _COLUMN_LIST:
                inner = spec[spec.index("(") + 1 : spec.rindex(")")] if ")" in spec else spec
                return MULTI_SCHEMA_CHANGE if len(_top_level_items(inner)) > 1 else ADD_COLUMN
            return action
    options = {action for pattern, action in _OPTIONS if pattern.search(spec)}
    if len(options) > 1:
        return MULTI_SCHEMA_CHANGE
    if options:
        return options.pop()
    return MODIFY_COLUMN
