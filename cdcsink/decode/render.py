"""Events written as cdcsink's NDJSON input: the inverse of :mod:`cdcsink.decode`.

``cdcsink consume`` prints what it decodes from Kafka this way, so its output
can be fed to ``cdcsink run`` and reads back as the same events:

- each column is declared from the table model: TiDB's full type
  (``int(11) unsigned``, ``decimal(10,2)``, ``varbinary(64)``,
  ``enum('a','b')``, ``datetime(6)``), in the object form when an attribute
  the type cannot say matters (``nullable`` where it differs from the default,
  a charset or collation other than utf8mb4's, ``unique``, ``indexed``,
  ``generated``);
- what the message did not say, or said narrower than its values are, is
  made up so that the values fit unchanged:
  an enum or set without its members (open-protocol; canal-json without
  content-compatible) is declared ``bigint unsigned`` (its value, the member
  index or the bitmask, is kept; the member names are not known), a ``bit``
  without its width ``bit(64)``, a decimal without its precision and scale
  ``decimal(65,D)`` and a time type without its fractional seconds
  ``datetime(D)``, D the fraction digits of the event's values (TiDB writes
  exactly the column's);
- values in forms the input takes back unchanged: integers and floats as JSON
  numbers (enum index, set bitmask, bit and year included), decimals, dates,
  times, JSON text and text as strings, binary strings and blobs as
  ``{"base64": ...}``.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Iterable

import orjson

from cdcsink.codec.common.mysql_types import mysql_type_name
from cdcsink.codec.schema import BIT, DATETIME, DURATION, ENUM, NEWDECIMAL, SET, TIMESTAMP, Column
from cdcsink.events import DDLEvent, Event, ResolvedEvent, RowEvent

_DEFAULT_TEXT = ("utf8mb4", "utf8mb4_bin")


def column_declaration(column: Column, values: Iterable[Any] = ()) -> str | dict[str, Any]:
    """How the input declares ``column`` (a type string, or an object with attributes).
    ``values``: the column's values in the event, for what the message did not say
    (a decimal's scale, a time's fractional seconds: TiDB writes exactly that many digits)."""
    tp = column.tp
    values = [value for value in values if value is not None]
    if tp in (ENUM, SET) and not column.elems:
        declared = "bigint unsigned"
    elif tp == BIT and (
        (not column.sized and column.flen is None) or any(value >> (column.flen or 1) for value in values)
    ):
        declared = "bit(64)"
    elif tp == NEWDECIMAL and (
        (not column.sized and column.decimal is None and column.flen is None) or not _decimals_fit(column, values)
    ):
        declared = f"decimal(65,{min(_fraction_digits(values), 30)})" + _sign(column)
    elif tp in (DATETIME, TIMESTAMP, DURATION) and (
        (not column.sized and column.decimal is None) or _fraction_digits(values) > (column.decimal or 0)
    ):
        digits = min(_fraction_digits(values), 6)
        declared = column.type_name + (f"({digits})" if digits else "")
    else:
        declared = mysql_type_name(column, True)
    attributes: dict[str, Any] = {}
    if column.nullable == column.primary_key:  # the default is nullable unless in the pk
        attributes["nullable"] = column.nullable
    if not column.binary and column.charset is not None and column.charset != _DEFAULT_TEXT[0]:
        attributes["charset"] = column.charset
    if column.collation is not None and column.collation not in (_DEFAULT_TEXT[1], "binary"):
        attributes["collation"] = column.collation
    if column.unique_key:
        attributes["unique"] = True
    if column.multiple_key:
        attributes["indexed"] = True
    if column.generated:
        attributes["generated"] = True
    return {"type": declared, **attributes} if attributes else declared


def _decimals_fit(column: Column, values: list[Any]) -> bool:
    """Whether every value has the declared scale's digits at most, and room for its whole part."""
    scale = column.decimal or 0
    whole = (column.flen or 10) - scale
    for value in values:
        if type(value) is not str:
            continue
        integer, _, fraction = value.lstrip("+-").partition(".")
        if len(fraction) > scale or len(integer.lstrip("0")) > whole:
            return False
    return True


def _fraction_digits(values: Iterable[Any]) -> int:
    digits = 0
    for value in values:
        if type(value) is str and "." in value:
            digits = max(digits, len(value) - value.index(".") - 1)
    return digits


def _sign(column: Column) -> str:
    return (" unsigned" if column.unsigned else "") + (" zerofill" if column.zerofill else "")


def declarations(event: RowEvent) -> dict[str, str | dict[str, Any]]:
    """The ``columns`` of a row event's line."""
    images = [image for image in (event.before, event.after) if image is not None]
    return {
        column.name: column_declaration(column, (image.get(column.name) for image in images))
        for column in event.table_info.columns
    }


def _value(value: Any) -> Any:
    if type(value) is bytes or type(value) is bytearray:
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def event_object(event: Event) -> dict[str, Any]:
    """The input line of ``event``, as an object."""
    if type(event) is RowEvent:
        table = event.table_info
        line: dict[str, Any] = {
            "kind": "row", "schema": event.schema, "table": event.table, "commit_ts": event.commit_ts,
            "op": event.op, "pk": list(table.pk), "columns": declarations(event),
        }
        for name, image in (("before", event.before), ("after", event.after)):
            if image is not None:
                line[name] = {column: _value(value) for column, value in image.items()}
    elif type(event) is DDLEvent:
        line = {"kind": "ddl", "schema": event.schema, "commit_ts": event.commit_ts, "query": event.query}
        if event.table:
            line["table"] = event.table
    else:
        assert type(event) is ResolvedEvent
        line = {"kind": "resolved", "commit_ts": event.commit_ts}
    if event.commit_time_ms is not None:
        line["commit_time_ms"] = event.commit_time_ms
    return line


def event_line(event: Event) -> bytes:
    """``event`` as one NDJSON line (without the newline)."""
    line = event_object(event)
    try:
        return orjson.dumps(line)
    except TypeError:  # text with lone surrogates: escaped as JSON allows
        return json.dumps(line, ensure_ascii=True).encode()
