"""Table matchers in TiCDC's table-filter syntax: ``shop.*``, ``*.orders``, ``!shop.tmp_*``.

Each rule is ``schema-pattern.table-pattern`` with shell wildcards (``*``,
``?``, ``[a-z]``, ``[!a-z]``); matching is case-insensitive. The last rule
that matches a table decides: a plain rule includes it, a ``!`` rule
excludes it; a table no rule matches is not matched.
"""

from __future__ import annotations

import fnmatch
import re

from cdcsink.errors import ConfigError


def _compile(pattern: str, rule: str) -> re.Pattern[str]:
    if not pattern:
        raise ConfigError(f"matcher {rule!r}: empty schema or table pattern")
    if pattern.count("[") != pattern.count("]"):
        raise ConfigError(f"matcher {rule!r}: unbalanced [ ] in {pattern!r}")
    return re.compile(fnmatch.translate(pattern.lower()), re.DOTALL)


class TableMatcher:
    def __init__(self, rules: list[str]) -> None:
        if not rules:
            raise ConfigError("matcher: at least one rule is needed")
        self._rules: list[tuple[bool, re.Pattern[str], re.Pattern[str]]] = []
        for rule in rules:
            text = rule.strip()
            negate = text.startswith("!")
            if negate:
                text = text[1:]
            schema, dot, table = text.partition(".")
            if not dot:
                raise ConfigError(f"matcher {rule!r}: expected schema.table (e.g. shop.* or *.orders)")
            self._rules.append((not negate, _compile(schema, rule), _compile(table, rule)))

    def matches(self, schema: str, table: str | None) -> bool:
        """Whether the table is matched. A schema-level event (table None) is
        matched by rules whose table pattern is ``*``."""
        schema_l = schema.lower()
        table_l = table.lower() if table is not None else None
        decision = False
        for include, schema_re, table_re in self._rules:
            if not schema_re.match(schema_l):
                continue
            if table_l is None:
                if table_re.pattern != fnmatch.translate("*"):
                    continue
            elif not table_re.match(table_l):
                continue
            decision = include
        return decision
