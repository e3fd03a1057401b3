"""Decode: turn raw input lines into change events, rejecting what is not one.

The checks here are cheap and explicit (no per-event pydantic): required
fields and their types, a known ``kind``/``op``, the images an op needs, and
the ordering promise of resolved events. A row's ``columns`` are parsed into a
:class:`~cdcsink.codec.schema.TableSchema` once per table (again when they
change), and its values are checked and converted to their canonical forms by
the table's :class:`~cdcsink.decode.values.ImageRules`.

Where the compiled decoder (``_speedups.c``) is built, a row line of the
common form is decoded by it straight into its :class:`RowEvent` (the same
event, field for field); every other line, and any it is unsure of, takes the
Python path below, which stays the reference.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Annotated, Any, Literal

import msgspec

from cdcsink.codec.schema import TableSchema, table_schema
from cdcsink.decode.values import ImageRules
from cdcsink.errors import InvalidEventError
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, Event, ResolvedEvent, RowEvent
from cdcsink.source import BOM, Chunk, Fingerprint, line_fingerprint, line_position
from cdcsink.speedups import load

#: The compiled row decoder (``_speedups.c``), or None (not built, or
#: ``CDCSINK_NO_EXTENSIONS``): ``decode_row(decoder, raw, line)`` returns the
#: RowEvent this module's Python path returns for a row line of the common
#: form, or None for any other line (the Python path then decides).
_speedups = load("cdcsink.decode._speedups")

_IMAGES = {INSERT: (False, True), UPDATE: (True, True), DELETE: (True, False)}


_NO_PK: list[str] = []
_U64 = 2**64 - 1

# The fast path: a line decoded straight into a typed struct, most checks done
# in C. It accepts a subset of what the checks below accept, with the same
# result; anything it refuses is decoded again the slow way, which names the
# exact problem (or accepts what the typed form was only stricter about).
# Integers are exact whatever their size (a JSON parser reading them as
# floats would lose digits of wide values).
_Name = Annotated[str, msgspec.Meta(min_length=1)]
_Ts = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # wider ones (to 2^64 - 1) take the slow path


class _Row(msgspec.Struct, tag_field="kind", tag="row", forbid_unknown_fields=True):
    schema: _Name
    table: _Name
    commit_ts: _Ts
    op: Literal["insert", "update", "delete"]
    columns: Annotated[dict[str, str | dict[str, Any]], msgspec.Meta(min_length=1)]
    pk: list[str] = []
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    commit_time_ms: _Ts | None = None


class _Resolved(msgspec.Struct, tag_field="kind", tag="resolved", forbid_unknown_fields=True):
    commit_ts: _Ts
    commit_time_ms: _Ts | None = None


class _DDL(msgspec.Struct, tag_field="kind", tag="ddl", forbid_unknown_fields=True):
    schema: _Name
    commit_ts: _Ts
    query: str
    table: _Name | None = None
    commit_time_ms: _Ts | None = None


_decode_typed = msgspec.json.Decoder(_Row | _Resolved | _DDL).decode
_decode_any = msgspec.json.Decoder().decode

#: The fields each kind of event has; any other is refused (a misspelt field
#: would otherwise be dropped unseen: a lost before image, a missing commit time).
FIELDS: dict[str, tuple[str, ...]] = {
    "row": ("kind", "schema", "table", "commit_ts", "op", "pk", "columns", "before", "after", "commit_time_ms"),
    "ddl": ("kind", "schema", "table", "commit_ts", "query", "commit_time_ms"),
    "resolved": ("kind", "commit_ts", "commit_time_ms"),
}


def _unknown_field(kind: str, obj: dict[str, Any]) -> str | None:
    """Why ``obj`` cannot be a ``kind`` event for a field it should not have (None: it has none)."""
    known = FIELDS[kind]
    for name in obj:
        if name not in known:
            close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
            if close:
                return f"unknown field {name!r} (did you mean {close[0]!r}?)"
            return f"unknown field {name!r} (a {kind} event has {', '.join(known)})"
    return None


def _check_shape(schema: str, table: str, columns: Any, pk: Any) -> tuple[TableSchema, ImageRules]:
    """The parsed table and its value rules; :class:`ValueError` names the column."""
    if type(columns) is not dict or not columns or any(type(t) is not str and type(t) is not dict for t in columns.values()):
        raise ValueError("columns must be a non-empty object of column name to SQL type (a string, or an object with a type)")
    if type(pk) is not list or any(type(name) is not str or name not in columns for name in pk):
        raise ValueError("pk must be a list of column names present in columns")
    if len(set(pk)) != len(pk):
        raise ValueError("pk must not name a column twice")
    info = table_schema(schema, table, columns, pk)
    return info, ImageRules(info)


def _is_int(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _U64


class Decoder:
    """Decodes NDJSON change events; remembers the last resolved ts to check ordering."""

    def __init__(self, last_resolved_ts: int = 0, use_compiled: bool = True) -> None:
        self.last_resolved_ts = last_resolved_ts
        #: schema -> table -> (columns, pk, parsed table, value rules) last seen and checked.
        self._tables: dict[str, dict[str, tuple[Any, Any, TableSchema, ImageRules]]] = {}
        #: The compiled row decoder when it is in use (``use_compiled=False``: the
        #: Python path only, the reference it is tested against).
        self._decode_row = _speedups.decode_row if use_compiled and _speedups is not None else None
        #: The compiled decoder's own per-table cache: schema -> table ->
        #: (``columns`` text, ``pk`` text or None, the :meth:`_table_shape` tuple, check plan).
        self._compiled_shapes: dict[str, dict[str, tuple[bytes, bytes | None, Any, Any]]] = {}

    def decode(self, raw: bytes | str, origin: str, line: int) -> Event:
        """Decode one line; raise :class:`InvalidEventError` naming ``origin:line``."""
        decode_row = self._decode_row
        if decode_row is not None:
            event = decode_row(self, raw, line)
            if event is not None:
                return event  # type: ignore[no-any-return]
        try:
            typed = _decode_typed(raw)
        except (ValueError, RecursionError):
            pass
        else:
            event = self._fast(typed, line)
            if event is not None:
                return event
        return self._decode_slow(raw, origin, line)

    def _decode_slow(self, raw: bytes | str, origin: str, line: int) -> Event:
        """:meth:`decode` by generic JSON and explicit checks: every rule, each with its reason."""
        try:
            obj = _decode_any(raw)
        except ValueError as error:  # msgspec.DecodeError, or bytes that are not UTF-8
            raise InvalidEventError(f"{origin}:{line}", not_json_reason(raw, error), _raw(raw)) from None
        except RecursionError:
            raise InvalidEventError(f"{origin}:{line}", "not valid JSON (arrays or objects nested too deeply)", _raw(raw)) from None
        if type(obj) is not dict:
            raise InvalidEventError(f"{origin}:{line}", "not a JSON object", _raw(raw))
        try:
            kind = obj.get("kind")
            if type(kind) is str and kind in FIELDS:
                unknown = _unknown_field(kind, obj)
                if unknown is not None:
                    raise ValueError(unknown)
            if kind == "row":
                return self._row(obj, line)
            if kind == "resolved":
                return self._resolved(obj, line)
            if kind == "ddl":
                return self._ddl(obj, line)
            raise ValueError(f"unknown kind {kind!r} (expected row, ddl or resolved)")
        except ValueError as error:
            raise InvalidEventError(f"{origin}:{line}", str(error), _raw(raw)) from None

    def _fast(self, typed: Any, line: int) -> Event | None:
        """The event of a line the typed decoder took, or None when a check the types
        do not cover fails (the slow path then names it)."""
        last = self.last_resolved_ts
        kind = type(typed)
        if kind is _Row:
            ts = typed.commit_ts
            if last and ts <= last:
                return None
            need_before, need_after = _IMAGES[typed.op]
            before = typed.before if need_before else None
            after = typed.after if need_after else None
            if (need_before and before is None) or (need_after and after is None):
                return None
            try:
                columns, pk, info, rules = self._table_shape(typed.schema, typed.table, typed.columns, typed.pk)
                if before is not None:
                    rules.convert(before, "before")
                if after is not None:
                    rules.convert(after, "after")
            except ValueError:
                return None
            return RowEvent(typed.schema, typed.table, ts, typed.op, pk, columns, before, after, typed.commit_time_ms, line, info)
        if kind is _Resolved:
            if typed.commit_ts < last:
                return None
            self.last_resolved_ts = typed.commit_ts
            return ResolvedEvent(typed.commit_ts, typed.commit_time_ms, None, line)
        if (last and typed.commit_ts <= last) or not typed.query.strip():
            return None
        return DDLEvent(typed.schema, typed.table, typed.commit_ts, typed.query, typed.commit_time_ms, line)

    def _table_shape(self, schema: str, table: str, columns: Any, pk: Any) -> tuple[Any, Any, TableSchema, ImageRules]:
        """A row's ``columns`` and ``pk``, with the parsed table and its value
        rules; parsed when they differ from the table's last ones. The first copy
        is handed on, so per-table caches downstream match by identity (they
        repeat on every row)."""
        tables = self._tables.get(schema)
        if tables is None:
            tables = self._tables[schema] = {}
        known = tables.get(table)
        if known is not None and known[0] == columns and known[1] == pk:
            return known
        known = tables[table] = (columns, pk, *_check_shape(schema, table, columns, pk))
        return known

    def _commit_ts(self, obj: dict[str, Any]) -> int:
        ts = obj.get("commit_ts")
        if not _is_int(ts):
            raise ValueError("commit_ts must be a non-negative integer")
        if ts <= self.last_resolved_ts and self.last_resolved_ts:
            raise ValueError(f"commit_ts {ts} is not after the resolved ts {self.last_resolved_ts} already promised")
        return ts

    def _row(self, obj: dict[str, Any], line: int) -> RowEvent:
        schema = obj.get("schema")
        table = obj.get("table")
        if type(schema) is not str or not schema:
            raise ValueError("schema must be a non-empty string")
        if type(table) is not str or not table:
            raise ValueError("table must be a non-empty string")
        ts = obj.get("commit_ts")
        if type(ts) is not int or ts < 0 or (ts <= self.last_resolved_ts and self.last_resolved_ts):
            ts = self._commit_ts(obj)  # raises with the precise reason
        op = obj.get("op")
        images = _IMAGES.get(op) if type(op) is str else None
        if images is None:
            raise ValueError(f"unknown op {op!r} (expected insert, update or delete)")
        columns, pk, info, rules = self._table_shape(schema, table, obj.get("columns"), obj.get("pk", _NO_PK))
        before = obj.get("before")
        after = obj.get("after")
        need_before, need_after = images
        if need_before:
            if type(before) is not dict:
                raise ValueError(f"{op} needs a before image (an object)")
        else:
            before = None
        if need_after:
            if type(after) is not dict:
                raise ValueError(f"{op} needs an after image (an object)")
        else:
            after = None
        if before is not None:
            rules.convert(before, "before")
        if after is not None:
            rules.convert(after, "after")
        commit_time_ms = obj.get("commit_time_ms")
        if commit_time_ms is not None and not _is_int(commit_time_ms):
            raise ValueError("commit_time_ms must be a non-negative integer")
        return RowEvent(schema, table, ts, op, pk, columns, before, after, commit_time_ms, line, info)  # type: ignore[arg-type]

    def _ddl(self, obj: dict[str, Any], line: int) -> DDLEvent:
        schema = obj.get("schema")
        table = obj.get("table")
        query = obj.get("query")
        if type(schema) is not str or not schema:
            raise ValueError("schema must be a non-empty string")
        if table is not None and (type(table) is not str or not table):
            raise ValueError("table must be a non-empty string or absent (schema-level DDL)")
        if type(query) is not str or not query.strip():
            raise ValueError("query must be a non-empty string")
        ts = self._commit_ts(obj)
        commit_time_ms = obj.get("commit_time_ms")
        if commit_time_ms is not None and not _is_int(commit_time_ms):
            raise ValueError("commit_time_ms must be a non-negative integer")
        return DDLEvent(schema, table, ts, query, commit_time_ms, line)

    def _resolved(self, obj: dict[str, Any], line: int) -> ResolvedEvent:
        ts = obj.get("commit_ts")
        if not _is_int(ts):
            raise ValueError("commit_ts must be a non-negative integer")
        if ts < self.last_resolved_ts:
            raise ValueError(f"resolved ts {ts} goes back from {self.last_resolved_ts}")
        commit_time_ms = obj.get("commit_time_ms")
        if commit_time_ms is not None and not _is_int(commit_time_ms):
            raise ValueError("commit_time_ms must be a non-negative integer")
        self.last_resolved_ts = ts
        return ResolvedEvent(ts, commit_time_ms, None, line)


_REASONS = (
    ("line longer than", "too_long"),
    ("not valid JSON", "json"),
    ("not valid UTF-8", "utf8"),
    ("not a JSON object", "not_object"),
    ("unknown kind", "kind"),
    ("unknown op", "op"),
    ("needs a", "image"),
    ("goes back", "order"),
    ("is not after", "order"),
)
#: Every code :func:`reason_code` returns (``field``: any other broken rule).
REASON_CODES: tuple[str, ...] = (*dict.fromkeys(code for _, code in _REASONS), "column", "value", "field")


def reason_code(reason: str) -> str:
    """A short, bounded code for an invalid-event reason (a metric label):
    ``value`` for a value that does not fit its column, ``image`` for an image
    that lacks a pk column or has an undeclared one (or is missing), ``column``
    for a column declaration or pk that cannot be read, ``json``, ``utf8``,
    ``too_long``, ``kind``, ``op``, ``order``, ``not_object`` and ``field`` for
    the rest."""
    if reason.startswith("unknown field "):  # before the texts below: a field's name may hold one
        return "field"
    if reason.startswith(("before: ", "after: ")):
        return "image" if reason.endswith((" is not declared in columns", " is missing")) else "value"
    if reason.startswith(("column '", "columns must", "pk must", "pk column")):
        return "column"
    for text, code in _REASONS:
        if text in reason:
            return code
    return "field"


_MSGSPEC_BYTE = re.compile(r"\(byte (\d+)\)")


def not_json_reason(raw: bytes | str, error: Exception) -> str:
    """Why a line is not JSON, and where in it: the column (characters, from 1) and
    the byte offset (from 0) of the first bad byte or character.

    Only for lines the decoder refused, so it may take its time: the fast
    decoder's own positions are sometimes those of the next byte, and for bad
    UTF-8 they count from the start of the string value, not of the line.
    """
    if isinstance(raw, bytes):
        if raw.startswith(BOM):
            return "not valid JSON (a UTF-8 byte order mark at column 1: one is skipped only at the start of a file)"
        try:
            text = raw.decode()
        except UnicodeDecodeError as bad:
            column = len(raw[: bad.start].decode()) + 1
            return f"not valid UTF-8 (byte 0x{raw[bad.start]:02x} at column {column}, byte offset {bad.start})"
    else:
        text = raw
    try:
        json.loads(text)
    except json.JSONDecodeError as syntax:
        what = syntax.msg[:1].lower() + syntax.msg[1:]
        return f"not valid JSON ({what} at column {syntax.pos + 1}, byte offset {len(text[: syntax.pos].encode())})"
    except (ValueError, RecursionError):
        pass
    # What the standard parser accepts and the decoder does not (NaN, a number out of range).
    detail = str(error).removeprefix("JSON is malformed: ")
    at = _MSGSPEC_BYTE.search(detail)
    if at is None:
        return f"not valid JSON ({detail})"
    data = _raw(raw)
    offset = int(at.group(1))
    constant = _JSON_CONSTANT.match(data, max(offset - 1, 0)) or _JSON_CONSTANT.match(data, offset)
    if constant is not None:  # NaN, Infinity, -Infinity: numbers JSON has no form for
        offset = constant.start()
        what = f"{constant.group().decode()} is not a JSON number"
    else:
        what = _MSGSPEC_BYTE.sub("", detail).strip().lower()
    column = len(data[:offset].decode(errors="replace")) + 1
    return f"not valid JSON ({what} at column {column}, byte offset {offset})"


_JSON_CONSTANT = re.compile(rb"-?(?:NaN|Infinity)")


def _raw(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode()


def decode_chunk(decoder: Decoder, chunk: Chunk) -> tuple[list[Any], InvalidEventError | None]:
    """Decode a chunk's lines; stops at the first invalid one and returns it."""
    events: list[Any] = []
    origin, first, end = chunk.origin, chunk.first_line, chunk.end_offset
    lines = chunk.lines
    if chunk.invalid is not None:  # found by the source (a line too long to read whole)
        error = InvalidEventError(f"{origin}:{first}", chunk.invalid, lines[0] if lines else b"")
        error.index = 0
        return events, error
    # Byte offsets are needed only where a resolved event records its position.
    offset, counted = chunk.start_offset, 0
    decode = decoder.decode
    append = events.append
    for i, line in enumerate(lines):
        if not line or line.isspace():
            continue
        try:
            event = decode(line, origin, first + i)
        except InvalidEventError as error:
            error.index = i
            return events, error
        if type(event) is ResolvedEvent:
            offset += sum(map(len, lines[counted : i + 1])) + (i + 1 - counted)
            counted = i + 1
            # The last line of the input may have no newline: the offset stops at its end.
            newline = offset <= end
            event.position = line_position(origin, offset if newline else end, first + i, line_fingerprint(line, newline))
        append(event)
    return events, None


def decode_records(decoder: Decoder, chunk: Any, start: int = 0) -> tuple[list[Any], InvalidEventError | None]:
    """Decode a Kafka chunk's record values from index ``start``; each event's ``line``
    is its offset. Stops at the first invalid one, named ``topic[partition]@offset``.
    A chunk of a CDC protocol (``source.format``) carries the reader of that
    protocol (:class:`cdcsink.decode.messages.MessageReader`); ``decoder`` then
    only keeps the partition's resolved ts."""
    reader = getattr(chunk, "reader", None)
    if reader is not None:
        return reader.decode_records(decoder, chunk, start)  # type: ignore[no-any-return]
    events: list[Any] = []
    origin, lines, offsets = chunk.origin, chunk.lines, chunk.offsets
    decode = decoder.decode
    append = events.append
    for i in range(start, len(lines)):
        value = lines[i]
        try:
            if not value or value.isspace():
                raise InvalidEventError(f"{origin}@{offsets[i]}", "empty message (no event)", value or b"")
            event = decode(value, origin, offsets[i])
        except InvalidEventError as error:
            error = InvalidEventError(f"{origin}@{offsets[i]}", error.reason, error.raw)
            error.index = i
            return events, error
        append(event)
    return events, None


def chunk_after(chunk: Chunk, index: int) -> Chunk:
    """The rest of ``chunk`` after its line ``index``."""
    offset, tail = _offset_before(chunk, index + 1)
    return Chunk(chunk.origin, chunk.lines[index + 1 :], chunk.first_line + index + 1, offset, chunk.end_offset, None, tail)


def position_before(chunk: Chunk, index: int) -> dict[str, Any]:
    """The source position just before ``chunk``'s line ``index`` (after all of
    its lines when ``index`` is their count): the form a resolved event records."""
    offset, tail = _offset_before(chunk, index)
    return line_position(chunk.origin, offset, chunk.first_line + index - 1, tail)


def _offset_before(chunk: Chunk, index: int) -> tuple[int, Fingerprint | None]:
    """The byte offset before ``chunk``'s line ``index``, and the fingerprint of the line that ends there."""
    if index == 0:
        return chunk.start_offset, chunk.before
    if chunk.invalid is not None:  # one over-long line, of which only the head is kept
        return chunk.end_offset, chunk.whole_line
    offset = chunk.start_offset + sum(len(line) + 1 for line in chunk.lines[:index])
    # The last line of the input may have no newline: the offset stops at its end.
    newline = offset <= chunk.end_offset
    return (offset if newline else chunk.end_offset), line_fingerprint(chunk.lines[index - 1], newline)
