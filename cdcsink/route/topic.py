"""Topic expressions: a fixed name or one with ``{schema}`` / ``{table}`` placeholders."""

from __future__ import annotations

import re

from cdcsink.errors import ConfigError

MAX_TOPIC_LENGTH = 249
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ILLEGAL = re.compile(r"[^A-Za-z0-9._-]")
_ALLOWED = {"schema", "table"}


def sanitize_topic(name: str) -> str:
    """Characters Kafka rejects become ``_``; at most 249 characters."""
    cleaned = _ILLEGAL.sub("_", name)[:MAX_TOPIC_LENGTH]
    if cleaned in ("", ".", ".."):
        return "_" if not cleaned else cleaned.replace(".", "_")
    return cleaned


class TopicExpression:
    def __init__(self, expression: str, where: str = "topic") -> None:
        if not expression or not expression.strip():
            raise ConfigError(f"{where}: empty topic expression")
        for name in _PLACEHOLDER.findall(expression):
            if name not in _ALLOWED:
                raise ConfigError(f"{where}: unknown placeholder {{{name}}} in {expression!r} (use {{schema}} or {{table}})")
        if _PLACEHOLDER.sub("", expression).count("{") or _PLACEHOLDER.sub("", expression).count("}"):
            raise ConfigError(f"{where}: unbalanced braces in {expression!r}")
        self.expression = expression
        self.uses_table = "{table}" in expression
        self.fixed = None if _PLACEHOLDER.search(expression) else sanitize_topic(expression)

    def substitute(self, schema: str, table: str | None) -> str:
        """The topic for ``schema.table``. Needs a table when the expression names one."""
        if self.fixed is not None:
            return self.fixed
        if table is None and self.uses_table:
            raise ValueError("a {table} expression needs a table")
        return sanitize_topic(self.expression.replace("{schema}", schema).replace("{table}", table or ""))
