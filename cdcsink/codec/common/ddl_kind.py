"""What kind of DDL a statement is, from its text (the input carries only the query).

Gives canal-json's ``type`` (TiCDC's convertDdlEventType names) and
open-protocol's ``t`` (TiDB's ActionType code).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple


class DDLKind(NamedTuple):
    canal_type: str
    action: int


_RULES: list[tuple[re.Pattern[str], DDLKind]] = [
    (re.compile(r"^create\s+(database|schema)\b"), DDLKind("QUERY", 1)),
    (re.compile(r"^drop\s+(database|schema)\b"), DDLKind("QUERY", 2)),
    (re.compile(r"^create\s+(temporary\s+)?table\b"), DDLKind("CREATE", 3)),
    (re.compile(r"^drop\s+table\b"), DDLKind("ERASE", 4)),
    (re.compile(r"^create\s+(unique\s+|fulltext\s+|spatial\s+)?index\b"), DDLKind("CINDEX", 7)),
    (re.compile(r"^drop\s+index\b"), DDLKind("DINDEX", 8)),
    (re.compile(r"^truncate\s+(table\s+)?"), DDLKind("TRUNCATE", 11)),
    (re.compile(r"^rename\s+table\b"), DDLKind("RENAME", 14)),
    (re.compile(r"^create\s+(or\s+replace\s+)?(algorithm\s*=\s*\w+\s+)?(definer\s*=\s*\S+\s+)?view\b"), DDLKind("QUERY", 21)),
    (re.compile(r"^drop\s+view\b"), DDLKind("QUERY", 24)),
]
_ALTER = re.compile(r"^alter\s+table\b")
_ALTER_RULES: list[tuple[re.Pattern[str], DDLKind]] = [
    (re.compile(r"\badd\s+(unique\s+|fulltext\s+|spatial\s+)?(index|key)\b|\badd\s+(constraint\s+\S+\s+)?unique\b"), DDLKind("CINDEX", 7)),
    (re.compile(r"\badd\s+(constraint\s+\S+\s+)?primary\s+key\b"), DDLKind("CINDEX", 32)),
    (re.compile(r"\bdrop\s+(index|key)\b"), DDLKind("DINDEX", 8)),
    (re.compile(r"\bdrop\s+primary\s+key\b"), DDLKind("DINDEX", 33)),
    (re.compile(r"\brename\s+(to|as)\b"), DDLKind("RENAME", 14)),
    (re.compile(r"\badd\s+(column\b|\w)"), DDLKind("ALTER", 5)),
    (re.compile(r"\bdrop\s+(column\b|\w)"), DDLKind("ALTER", 6)),
    (re.compile(r"\b(modify|change)\b"), DDLKind("ALTER", 12)),
]
_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*|#[^\n]*", re.S)


@lru_cache(maxsize=1024)
def classify(query: str) -> DDLKind:
    text = _COMMENTS.sub(" ", query).strip().lower()
    text = re.sub(r"\s+", " ", text)
    for pattern, kind in _RULES:
        if pattern.search(text):
            return kind
    if _ALTER.search(text):
        for pattern, kind in _ALTER_RULES:
            if pattern.search(text):
                return kind
        return DDLKind("ALTER", 12)
    return DDLKind("QUERY", 0)
