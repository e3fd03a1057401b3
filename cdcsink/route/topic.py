"""Topic expressions: a fixed name, or one with ``{schema}`` / ``{table}`` placeholders.

As in TiCDC: the literal parts of an expression must already be legal in a
Kafka topic name (``[A-Za-z0-9._-]``); a substituted schema or table name has
every other character replaced by ``_``; the result is cut to 249 characters,
and a result of ``.`` or ``..`` becomes ``_`` or ``__``. TiCDC's
``{column:<name>}`` placeholder is not supported.
"""

from __future__ import annotations

import re

from cdcsink.errors import ConfigError

MAX_TOPIC_LENGTH = 249
"""Kafka's limit on a topic name's length."""

_LEGAL = re.compile(r"[A-Za-z0-9._-]*")
_ILLEGAL = re.compile(r"[^A-Za-z0-9._-]")
_PLACEHOLDERS = ("schema", "table")


def sanitize_topic(name: str) -> str:
    """``name`` made acceptable to Kafka: illegal characters to ``_``, at most
    249 characters, ``.``/``..`` to ``_``/``__``."""
    cleaned = _ILLEGAL.sub("_", name)[:MAX_TOPIC_LENGTH]
    if cleaned in (".", ".."):
        return "_" * len(cleaned)
    return cleaned


def topic_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Kafka topic name, or None if it is one."""
    if not name:
        return "empty topic name"
    if not _LEGAL.fullmatch(name):
        return f"topic {name!r} has characters Kafka does not allow (only A-Z a-z 0-9 . _ -)"
    if len(name) > MAX_TOPIC_LENGTH:
        return f"topic name longer than {MAX_TOPIC_LENGTH} characters"
    if name in (".", ".."):
        return f"{name!r} is not a valid topic name"
    return None


def _parse(expression: str) -> list[tuple[bool, str]]:
    """``(is_placeholder, text)`` tokens; raises ValueError with the reason."""
    tokens: list[tuple[bool, str]] = []
    i = 0
    while i < len(expression):
        start = expression.find("{", i)
        if start < 0:
            tokens.append((False, expression[i:]))
            break
        if start > i:
            tokens.append((False, expression[i:start]))
        end = expression.find("}", start + 1)
        if end < 0:
            raise ValueError("unclosed '{'")
        name = expression[start + 1 : end]
        if name not in _PLACEHOLDERS:
            hint = " ({column:...} is not supported)" if name.startswith("column:") else ""
            raise ValueError(f"unknown placeholder {{{name}}}{hint}; use {{schema}} and {{table}}")
        tokens.append((True, name))
        i = end + 1
    for is_placeholder, text in tokens:
        if not is_placeholder and not _LEGAL.fullmatch(text):
            raise ValueError(f"{text!r} has characters Kafka does not allow in a topic (only A-Z a-z 0-9 . _ -)")
    return tokens


class TopicExpression:
    """A validated topic expression; :meth:`substitute` gives the topic of a table.

    Raises :class:`ConfigError` naming the expression when it is invalid.
    """

    __slots__ = ("expression", "fixed", "uses_table", "_tokens")

    def __init__(self, expression: str) -> None:
        if not expression:
            raise ConfigError("empty topic expression")
        try:
            self._tokens = _parse(expression)
        except ValueError as error:
            raise ConfigError(f"invalid topic expression {expression!r}: {error}") from None
        self.expression = expression
        self.uses_table = (True, "table") in self._tokens
        self.fixed: str | None = None
        if not any(is_placeholder for is_placeholder, _ in self._tokens):
            problem = topic_name_problem(expression)
            if problem:
                raise ConfigError(f"invalid topic {expression!r}: {problem}")
            self.fixed = expression

    def substitute(self, schema: str, table: str | None) -> str:
        """The topic for ``schema.table``. ``table`` may be None only when the
        expression does not use ``{table}`` (ValueError otherwise)."""
        if self.fixed is not None:
            return self.fixed
        if table is None and self.uses_table:
            raise ValueError(f"topic expression {self.expression!r} needs a table name")
        values = {"schema": schema, "table": table or ""}
        name = "".join(values[text] if is_placeholder else text for is_placeholder, text in self._tokens)
        return sanitize_topic(name)

    def __repr__(self) -> str:
        return f"TopicExpression({self.expression!r})"
