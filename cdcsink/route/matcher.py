"""Table matchers in TiDB's table-filter syntax, as TiCDC's ``matcher`` uses it.

A rule is ``[!]schema-pattern.table-pattern``. A pattern is one of:

- a wildcard: letters, digits, ``_``, ``$`` and non-ASCII characters match
  themselves; ``*`` any run of characters, ``?`` one character, ``[a-z]`` a
  character class (``[!a-z]`` its complement); ``\\`` escapes any other ASCII
  punctuation (``my\\-db.*``). Other punctuation is an error, as in TiDB.
- a quoted name, ``"my-db"`` or ```my-db```: matched literally (``""`` and
  ````` `` ````` stand for the quote itself).
- a regular expression between slashes, ``/^tmp_\\d+$/``: searched
  (unanchored, as in TiDB), with Python's ``re`` syntax.

Matching is case-insensitive. Rules are read as a list in which the LAST
rule that matches decides: a plain rule includes the table, a ``!`` rule
excludes it; a table no rule matches is not matched. Lines starting with
``#`` are comments and ignored, as in TiDB; ``@file`` imports are not
supported.

A schema-level event (table ``None``) follows TiDB's ``MatchSchema``: the
last rule whose schema pattern matches decides, except that a ``!`` rule
only counts when its table pattern is exactly ``*`` (excluding some tables
of a schema does not exclude the schema). So ``shop.orders`` matches schema
``shop``; ``["*.*", "!shop.*"]`` does not; ``["*.*", "!shop.tmp_*"]`` does.
"""

from __future__ import annotations

import re

from cdcsink.errors import ConfigError

_Pattern = re.Pattern[str] | None
"""A compiled pattern; ``None`` stands for ``*`` (matches every name)."""


class _RuleError(Exception):
    """A syntax error in one rule; becomes a ConfigError naming the rule."""


def _is_ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _char_class(text: str, i: int) -> tuple[str, int]:
    """Translate the ``[...]`` starting at ``text[i]``; return the regex and the index after it."""
    j = i + 1
    negate = j < len(text) and text[j] == "!"
    if negate:
        j += 1
    parts: list[str] = []
    while j < len(text) and text[j] != "]":
        c = text[j]
        if c == "\\":
            if j + 1 >= len(text) or _is_ascii_alnum(text[j + 1]):
                raise _RuleError("bad escape in character class")
            parts.append(re.escape(text[j + 1]))
            j += 2
        else:
            parts.append("-" if c == "-" else re.escape(c))
            j += 1
    if j >= len(text) or not parts:
        raise _RuleError("unterminated or empty character class")
    return ("[^" if negate else "[") + "".join(parts) + "]", j + 1


def _wildcard(text: str) -> tuple[_Pattern, str]:
    """Parse a wildcard pattern up to the next ``.`` (or the end)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == ".":
            break
        if c == "\\":
            if i + 1 >= len(text):
                raise _RuleError("a rule cannot end with \\")
            if _is_ascii_alnum(text[i + 1]):
                raise _RuleError(f"cannot escape a letter or digit (\\{text[i + 1]})")
            out.append(re.escape(text[i + 1]))
            i += 2
        elif c == "*":
            out.append(".*")
            i += 1
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[":
            regex, i = _char_class(text, i)
            out.append(regex)
        elif c in "$_" or _is_ascii_alnum(c) or not c.isascii():
            out.append(re.escape(c))
            i += 1
        else:
            raise _RuleError(f"unexpected character {c!r} (escape it with \\ or quote the name)")
    if i == 0:
        raise _RuleError("missing pattern")
    if out == [".*"]:
        return None, text[i:]
    try:
        return re.compile("^" + "".join(out) + r"\Z", re.IGNORECASE | re.DOTALL), text[i:]
    except re.error as error:
        raise _RuleError(f"invalid pattern ({error})") from None


def _quoted(text: str, quote: str) -> tuple[_Pattern, str]:
    i = 1
    name: list[str] = []
    while i < len(text):
        if text[i] == quote:
            if text[i + 1 : i + 2] == quote:
                name.append(quote)
                i += 2
                continue
            break
        name.append(text[i])
        i += 1
    if i >= len(text) or not name:
        raise _RuleError("unterminated or empty quoted name")
    return re.compile("^" + re.escape("".join(name)) + r"\Z", re.IGNORECASE), text[i + 1 :]


def _regex(text: str) -> tuple[_Pattern, str]:
    m = re.match(r"/((?:\\.|[^/\\])+)/", text, re.DOTALL)
    if m is None:
        raise _RuleError("unterminated or empty /regular expression/")
    try:
        return re.compile(m.group(1), re.IGNORECASE), text[m.end() :]
    except re.error as error:
        raise _RuleError(f"invalid regular expression ({error})") from None


def _pattern(text: str) -> tuple[_Pattern, str]:
    if not text:
        raise _RuleError("missing pattern")
    if text[0] == "/":
        return _regex(text)
    if text[0] in "\"`":
        return _quoted(text, text[0])
    return _wildcard(text)


def _matches(pattern: _Pattern, name: str) -> bool:
    return pattern is None or pattern.search(name) is not None


class TableMatcher:
    """A list of filter rules; :meth:`matches` applies them (last match decides)."""

    __slots__ = ("rules", "_reversed")

    def __init__(self, rules: list[str]) -> None:
        self.rules = list(rules)
        parsed: list[tuple[bool, _Pattern, _Pattern]] = []
        for rule in rules:
            text = rule.strip(" \t")
            if text.startswith("#"):
                continue
            try:
                parsed.append(self._parse(text))
            except _RuleError as error:
                raise ConfigError(f"invalid filter rule {rule!r}: {error}") from None
        if not parsed:
            raise ConfigError("no filter rule (write at least one, e.g. shop.* or *.*)")
        self._reversed = parsed[::-1]

    @staticmethod
    def _parse(text: str) -> tuple[bool, _Pattern, _Pattern]:
        if not text:
            raise _RuleError("empty rule")
        if text[0] == "@":
            raise _RuleError("importing filter files (@file) is not supported")
        positive = text[0] != "!"
        if not positive:
            text = text[1:]
        schema, rest = _pattern(text)
        if not rest.startswith("."):
            raise _RuleError("missing '.' between schema and table patterns (e.g. shop.* or *.orders)")
        table, rest = _pattern(rest[1:])
        if rest:
            raise _RuleError(f"unexpected {rest!r} after the table pattern")
        return positive, schema, table

    def matches(self, schema: str, table: str | None) -> bool:
        """Whether ``schema.table`` is matched; ``table=None`` asks about the schema itself."""
        for positive, schema_pattern, table_pattern in self._reversed:
            if not _matches(schema_pattern, schema):
                continue
            if table is None:
                if positive or table_pattern is None:
                    return positive
            elif _matches(table_pattern, table):
                return positive
        return False

    def __repr__(self) -> str:
        return f"TableMatcher({self.rules!r})"
