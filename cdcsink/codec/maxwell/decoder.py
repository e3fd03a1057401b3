"""Read TiCDC's maxwell messages back into cdcsink's events.

The inverse of :mod:`cdcsink.codec.maxwell.encoder` (TiCDC has no maxwell
decoder). A row message's value is one or more JSON objects one after the
other; a DDL message's key is ``{"ts":..,"scm":..,"tbl":..,"t":2}``.

Maxwell carries no column types and no key, so what comes back is less than
what was sent (README lists it): each column is typed by its JSON values
(:mod:`cdcsink.codec.common.untyped`: integers, doubles, strings), binary
strings stay base64 text, enum and set values stay numbers, a float column's
value is the double of its float32 digits; rows have no ``pk``, commit ts 0
and the commit time in whole seconds (``commit_time_ms``). An update's old
image is the new one with the ``old`` values over it. A delete's row is read
from ``old`` (TiCDC) or ``data`` (Maxwell's own daemon).
"""

from __future__ import annotations

import json
from typing import Any

from cdcsink.codec.common.untyped import plain_value, untyped_table
from cdcsink.codec.options import EncoderOptions
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, Event, RowEvent

_DECODER = json.JSONDecoder()
_OPS = {"insert": INSERT, "update": UPDATE, "delete": DELETE}


def _objects(text: str) -> list[Any]:
    """The JSON values written one after the other in ``text``."""
    out, index, end = [], 0, len(text)
    while True:
        while index < end and text[index] in " \t\r\n":
            index += 1
        if index == end:
            return out
        try:
            value, index = _DECODER.raw_decode(text, index)
        except ValueError as error:
            raise ValueError(f"maxwell value is not JSON: {error}") from None
        out.append(value)


class MaxwellDecoder:
    """Decodes maxwell messages into cdcsink's events (``options`` is accepted
    for the registry's sake; maxwell has no options that change decoding)."""

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.options = options

    def decode(self, key: bytes | None, value: bytes | None) -> list[Event]:
        try:
            text = (value or b"").decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"maxwell value is not UTF-8: {error}") from None
        if key and key[:1] == b"{":
            return [self._ddl(key, text)]
        return [self._row(doc, index) for index, doc in enumerate(_objects(text))]

    def _ddl(self, key: bytes, text: str) -> DDLEvent:
        (message_key,) = _objects(key.decode("utf-8"))
        if type(message_key) is not dict or message_key.get("t") != 2:
            raise ValueError(f"maxwell key {key[:80]!r} is not a DDL key")
        (doc,) = _objects(text) or [None]
        if type(doc) is not dict or type(doc.get("sql")) is not str:
            raise ValueError("maxwell DDL value has no sql")
        ts = message_key.get("ts", doc.get("ts"))
        if type(ts) is not int:
            raise ValueError("maxwell DDL has no commit ts")
        schema = doc.get("database", message_key.get("scm", ""))
        table = doc.get("table", message_key.get("tbl")) or None
        return DDLEvent(str(schema), table, ts, doc["sql"])

    def _row(self, doc: Any, index: int) -> RowEvent:
        where = f"maxwell row {index + 1}"
        if type(doc) is not dict:
            raise ValueError(f"{where} is not a JSON object")
        op = _OPS.get(doc.get("type"))  # type: ignore[arg-type]
        if op is None:
            raise ValueError(f"{where}: type {doc.get('type')!r} is not insert, update or delete")
        schema, table, ts = doc.get("database"), doc.get("table"), doc.get("ts")
        if type(schema) is not str or type(table) is not str or type(ts) is not int:
            raise ValueError(f"{where}: database, table and ts are required")
        data, old = doc.get("data") or {}, doc.get("old") or {}
        if type(data) is not dict or type(old) is not dict:
            raise ValueError(f"{where}: data and old must be objects")
        data = {name: plain_value(value) for name, value in data.items()}
        old = {name: plain_value(value) for name, value in old.items()}
        before = after = None
        if op == INSERT:
            after = data
        elif op == UPDATE:
            after = data
            before = dict(data)
            before.update(old)
        else:
            before = old or data
        images = [image for image in (before, after) if image is not None]
        info = untyped_table(schema, table, images)
        declared = {column.name: column.declared for column in info.columns}
        return RowEvent(schema, table, 0, op, [], declared, before, after, commit_time_ms=ts * 1000, table_info=info)
