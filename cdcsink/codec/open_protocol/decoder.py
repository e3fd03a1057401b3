"""Read open-protocol messages back as TiCDC's consumer reads them.

The rules are ticdc's ``pkg/sink/codec/open/decoder.go`` (``formatColumn``,
``newTiColumns``, ``assembleDMLEvent``; tiflow's
``open_protocol_decoder.go`` and ``internal/column.go`` agree): a message
that makes TiCDC's decoder fail makes this one raise :class:`ValueError`, with
the entry and column it is about. Among them:

- an integer column's value must be a JSON integer within int64 (uint64 when
  the unsigned flag is set): ``true``, ``1.5``, ``"1"`` fail;
- ``bit``, ``enum``, ``set`` and ``year`` values must be integers within
  int64 (a ``bit(64)`` value of 2^63 or more fails, in TiCDC as here);
- ``float``/``double`` values must be JSON numbers; ``decimal``, dates and
  times and ``json`` values must be strings (a ``json`` value given as an
  object fails, as does a decimal given as a number);
- binary strings must undo with Go's ``strconv.Unquote``, blobs with base64;
- a column type TiCDC's decoder does not know (``geometry``) fails.

Values come back in cdcsink's canonical forms (see :mod:`cdcsink.codec.schema`),
so an event encoded and decoded again compares equal to the original. The
table model is rebuilt from what the message carries: each column's type code
``t`` and flags ``f`` (handle key, primary and unique key, index, nullable,
unsigned, binary charset, generated); lengths and enum/set members are not in
the message. Columns keep the message's order (TiCDC's decoder sorts them by
name; the rows are the same).

An update's ``p`` may hold fewer columns than ``u`` (only-output-updated-columns):
the old image takes the new value for each column ``p`` leaves out, and an
update whose ``p`` is empty reads as an insert, as in TiCDC.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cdcsink.codec.common.flags import (
    BINARY, CHARSET_TYPES, GENERATED, HANDLE_KEY, MULTIPLE_KEY, NULLABLE, PRIMARY_KEY, UNIQUE_KEY, UNSIGNED,
)
from cdcsink.codec.common.golang import to_float32, unquote
from cdcsink.codec.common.large import decompress, read_claim_check
from cdcsink.codec.open_protocol.message import DDL, RESOLVED, ROW, split_entries
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, INTEGERS, JSON, KNOWN_TYPES, NEWDECIMAL, SET,
    TIMESTAMP, YEAR, Column, TableSchema, tidb_type_name,
)
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, Event, ResolvedEvent, RowEvent

_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_VECTOR_FLOAT32 = 225


class _Number(str):
    """A JSON number's text, kept as Go's ``json.Number`` keeps it."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _loads(data: bytes) -> Any:
    """JSON as Go's decoder with ``UseNumber`` reads it: numbers as text, bytes
    that are not UTF-8 (and lone surrogate escapes) as U+FFFD."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _SURROGATE.sub("\ufffd", data.decode("utf-8", "surrogateescape"))
    return json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=_reject_constant)


def _go_string(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _integer(raw: Any, bounds: tuple[int, int], what: str) -> int:
    """``strconv.ParseInt``/``ParseUint`` of a ``json.Number``."""
    if type(raw) is not _Number:
        raise ValueError(f"{_show(raw)} is not a JSON number ({what})")
    text = str(raw)
    if "." in text or "e" in text or "E" in text or (bounds[0] == 0 and text.startswith("-")):
        raise ValueError(f"{text} is not {what}")
    number = int(text)
    if not bounds[0] <= number <= bounds[1]:
        raise ValueError(f"{text} is out of range for {what}")
    return number


def _show(raw: Any) -> str:
    if raw is True or raw is False:
        return "true" if raw else "false"
    if type(raw) is _Number:
        return str(raw)
    return json.dumps(raw, ensure_ascii=False)[:60]


_DATE_TIME = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d{0,9})?)?|\d{6,14}(?:\.\d{0,9})?")
_DURATION = re.compile(r"-?(?:\d+ )?\d+(?::\d{1,2}(?::\d{1,2})?)?(?:\.\d{0,9})?")
_DECIMAL = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")


def _string(raw: Any, what: str) -> str:
    if type(raw) is not str:
        raise ValueError(f"{_show(raw)} is not a string ({what} values are strings)")
    return _go_string(raw)


def _value(tp: int, flags: int, raw: Any) -> Any:
    """``formatColumn``: the canonical value of a column's ``v``."""
    if raw is None:
        return None
    if tp in CHARS:
        text = _string(raw, "char/varchar/binary")
        return unquote(text) if flags & BINARY else text
    if tp in BLOBS:
        text = _string(raw, "blob/text")
        try:
            data = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{_show(raw)} is not base64") from None
        if flags & BINARY:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("a text column's bytes are not UTF-8") from None
    if tp in (FLOAT, DOUBLE):
        if type(raw) is not _Number:
            raise ValueError(f"{_show(raw)} is not a JSON number (float/double)")
        number = float(str(raw))
        if number in (float("inf"), float("-inf")):
            raise ValueError(f"{raw} is out of range for a float64")
        return to_float32(number) if tp == FLOAT else number
    if tp in INTEGERS:
        return _integer(raw, _UINT64 if flags & UNSIGNED else _INT64, "an integer of its signedness")
    if tp == YEAR:
        return _integer(raw, _INT64, "an int64")
    if tp in (BIT, ENUM, SET):
        return _integer(raw, _INT64, "an int64") & _UINT64[1]  # Int64(), then uint64()
    if tp in (DATE, DATETIME, TIMESTAMP):
        text = _string(raw, "date/datetime/timestamp")
        if not _DATE_TIME.fullmatch(text):
            raise ValueError(f"{text!r} is not a date or time")
        return text
    if tp == DURATION:
        text = _string(raw, "time")
        if not _DURATION.fullmatch(text):
            raise ValueError(f"{text!r} is not a time")
        return text
    if tp == JSON:
        text = _string(raw, "json")
        try:
            json.loads(text, parse_constant=_reject_constant)
        except ValueError:
            raise ValueError(f"{text[:60]!r} is not JSON text") from None
        return text
    if tp == NEWDECIMAL:
        text = _string(raw, "decimal")
        if not _DECIMAL.fullmatch(text):
            raise ValueError(f"{text!r} is not a decimal")
        return text
    if tp == _VECTOR_FLOAT32:
        raise ValueError("vector columns are not supported by cdcsink")
    raise ValueError(f"unknown data type {tp}")


def _column_fields(name: str, raw: Any) -> tuple[int, int, Any]:
    """A column object's ``t``, ``f`` and ``v``, typed as Go unmarshals them."""
    if type(raw) is not dict:
        raise ValueError(f"column {name!r} is not an object")
    try:
        tp = raw.get("t")
        tp = 0 if tp is None else _integer(tp, (0, 255), "a type code (a byte)")
        flags = raw.get("f")
        flags = 0 if flags is None else _integer(flags, _UINT64, "a flag set (a uint64)")
    except ValueError as error:
        raise ValueError(f"column {name!r}: {error}") from None
    handle = raw.get("h")
    if handle is not None and type(handle) is not bool:
        raise ValueError(f"column {name!r}: h must be true or false")
    return tp, flags, raw.get("v")


def _column_model(name: str, position: int, tp: int, flags: int, key: bool) -> Column:
    binary = bool(flags & BINARY) and tp in (CHARS | BLOBS)
    type_name = tidb_type_name(tp, binary) if tp in KNOWN_TYPES else f"type {tp}"
    unsigned = bool(flags & UNSIGNED)
    return Column(
        name=name,
        position=position,
        declared=type_name + (" unsigned" if unsigned else ""),
        tp=tp,
        type_name=type_name,
        unsigned=unsigned,
        binary=binary,
        charset="binary" if binary else ("utf8mb4" if tp in CHARSET_TYPES else None),
        nullable=bool(flags & NULLABLE),
        primary_key=key,
        unique_key=bool(flags & UNIQUE_KEY),
        multiple_key=bool(flags & MULTIPLE_KEY),
        generated=bool(flags & GENERATED),
        sized=False,  # the message has no lengths, scales or members
    )


class OpenProtocolDecoder:
    """Decodes open-protocol messages into cdcsink's events, by TiCDC's rules.

    ``options`` gives the ``large-message-handle-compression`` the values were
    written with; a claim-check message is read from its ``file://`` location.
    """

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.compression = options.large_message_handle_compression if options is not None else "none"
        self._tables: dict[tuple[Any, ...], TableSchema] = {}

    def decode(self, key: bytes | None, value: bytes | None) -> list[Event]:
        entries = split_entries(key, value)
        events: list[Event] = []
        for index, (key_json, value_json) in enumerate(entries):
            try:
                message_key = _message_key(_loads(key_json))
                kind = message_key["t"]
                if kind == RESOLVED:
                    events.append(ResolvedEvent(message_key["ts"]))
                elif kind == DDL:
                    events.append(self._ddl(message_key, value_json))
                elif kind == ROW:
                    events.append(self._row(message_key, value_json))
                else:
                    raise ValueError(f"unknown message type {kind}")
                if kind != ROW and index + 1 < len(entries):
                    # TiCDC drops the value part after a DDL or resolved entry, then fails on the keys left.
                    raise ValueError("entries follow a DDL or resolved entry")
            except ValueError as error:
                raise ValueError(f"open-protocol entry {index + 1} of {len(entries)}: {error}") from None
        return events

    def _ddl(self, key: dict[str, Any], value_json: bytes) -> DDLEvent:
        doc = _loads(decompress(self.compression, value_json))
        if type(doc) is not dict:
            raise ValueError("a DDL value is not a JSON object")
        query = doc.get("q")
        query = "" if query is None else _string(query, "a DDL query")
        action = doc.get("t")
        if action is not None:
            _integer(action, (0, 255), "a DDL type (a byte)")
        return DDLEvent(key["scm"], key["tbl"] or None, key["ts"], query)

    def _row(self, key: dict[str, Any], value_json: bytes) -> RowEvent:
        if key["ccl"]:
            stored_key, stored_value = read_claim_check(key["ccl"])
            (stored,) = split_entries(stored_key, stored_value)
            key, value_json = _message_key(_loads(stored[0])), stored[1]
        doc = _loads(decompress(self.compression, value_json))
        if type(doc) is not dict:
            raise ValueError("a row value is not a JSON object")
        images = {}
        for part in ("u", "p", "d"):
            image = doc.get(part)
            if image is not None and type(image) is not dict:
                raise ValueError(f"{part!r} is not an object")
            images[part] = image or {}
        update, previous, delete = images["u"], images["p"], images["d"]
        if delete:
            op, shape_from = DELETE, delete
        elif update and previous:
            op, shape_from = UPDATE, update
        elif update:
            op, shape_from = INSERT, update
        else:
            raise ValueError("a row value with no columns (neither u nor d)")
        fields = {name: _column_fields(name, raw) for name, raw in shape_from.items()}
        table = self._table(key["scm"], key["tbl"], fields)

        def image(columns: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for name, raw in columns.items():
                tp, flags, value = _column_fields(name, raw)
                try:
                    out[_go_string(name)] = _value(tp, flags, value)
                except ValueError as error:
                    raise ValueError(f"column {name!r} (t={tp}): {error}") from None
            return out

        before = after = None
        if op == DELETE:
            before = image(delete)
        elif op == INSERT:
            after = image(update)
        else:
            after = image(update)
            before = image(previous)
            for name, value in after.items():
                before.setdefault(name, value)
        declared = {column.name: column.declared for column in table.columns}
        return RowEvent(key["scm"], key["tbl"], key["ts"], op, list(table.pk), declared, before, after, table_info=table)

    def _table(self, schema: str, table: str, fields: dict[str, tuple[int, int, Any]]) -> TableSchema:
        signature = (schema, table, tuple((name, tp, flags) for name, (tp, flags, _) in fields.items()))
        cached = self._tables.get(signature)
        if cached is None:
            pk = tuple(name for name, (_, flags, _) in fields.items() if flags & (HANDLE_KEY | PRIMARY_KEY))
            columns = tuple(
                _column_model(_go_string(name), position, tp, flags, name in pk)
                for position, (name, (tp, flags, _)) in enumerate(fields.items())
            )
            cached = self._tables[signature] = TableSchema(
                schema, table, columns, pk, {column.name: column for column in columns}
            )
        return cached


def _message_key(doc: Any) -> dict[str, Any]:
    """ticdc's ``messageKey``, typed as Go unmarshals it (absent fields are zero)."""
    if type(doc) is not dict:
        raise ValueError("a message key is not a JSON object")
    ts = doc.get("ts")
    kind = doc.get("t")
    key = {
        "ts": 0 if ts is None else _integer(ts, _UINT64, "a commit ts (a uint64)"),
        "t": 0 if kind is None else _integer(kind, _INT64, "a message type"),
        "scm": _optional_string(doc, "scm"),
        "tbl": _optional_string(doc, "tbl"),
        "ccl": _optional_string(doc, "ccl"),
    }
    handle_only = doc.get("ohk")
    if handle_only is not None and type(handle_only) is not bool:
        raise ValueError("ohk must be true or false")
    key["ohk"] = bool(handle_only)
    return key


def _optional_string(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    return "" if value is None else _string(value, field)
