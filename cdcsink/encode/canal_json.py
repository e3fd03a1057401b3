"""canal-json, as TiCDC writes it: one row per message, key empty.

Field order follows TiCDC: ``id, database, table, pkNames, isDdl, type, es,
ts, sql, sqlType, mysqlType, data, old`` and, with the TiDB extension,
``_tidb`` (``commitTs`` on rows and DDL, ``watermarkTs`` on watermarks).
Values are strings or null. ``es`` is the event's ``commit_time_ms`` (0 when
the source gives none); ``ts`` is the time the message was built.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

import orjson

from cdcsink.encode import Message
from cdcsink.encode.ddl_kind import classify
from cdcsink.encode.mysql_types import type_info
from cdcsink.encode.options import EncoderOptions
from cdcsink.encode.shapes import TableShapes
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DELETE, INSERT, DDLEvent, RowEvent

_TYPES = {INSERT: "INSERT", "update": "UPDATE", DELETE: "DELETE"}
_Fragment = orjson.Fragment
_dumps = orjson.dumps


def canal_value(value: Any) -> str | None:
    """A column value as canal-json carries it: a string, or None for NULL."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool:
        return "1" if value else "0"
    if kind is int:
        return str(value)
    if kind is float:
        text = repr(value)
        # Shortest round-trip digits, written out without an exponent.
        return format(Decimal(text), "f") if "e" in text else text
    return _dumps(value).decode()


class _TableShape:
    """A table's constant parts, pre-serialized."""

    __slots__ = ("pk_names", "sql_type", "mysql_type")

    def __init__(self, columns: dict[str, str], pk: list[str]) -> None:
        self.pk_names = _Fragment(_dumps(pk))
        self.sql_type = _Fragment(_dumps({name: type_info(t).java_type for name, t in columns.items()}))
        self.mysql_type = _Fragment(_dumps(columns))


class CanalJsonEncoder:
    ddl_to_all_partitions = False

    def __init__(self, options: EncoderOptions) -> None:
        self.options = options
        self.limit = options.max_message_bytes
        self.extension = options.enable_tidb_extension
        self._clock = options.clock_ms
        self._shapes = TableShapes(lambda event: _TableShape(event.columns, event.pk))

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        now = self._clock()
        limit = self.limit
        extension = self.extension
        shapes = self._shapes.get
        out: list[Message] = []
        for event in events:
            shape = shapes(event)
            op = event.op
            if op == DELETE:
                data = [_strings(event.before)]  # type: ignore[arg-type]
                old = None
            else:
                data = [_strings(event.after)]  # type: ignore[arg-type]
                old = [_strings(event.before)] if op != INSERT else None  # type: ignore[arg-type]
            message: dict[str, Any] = {
                "id": 0,
                "database": event.schema,
                "table": event.table,
                "pkNames": shape.pk_names,
                "isDdl": False,
                "type": _TYPES[op],
                "es": event.commit_time_ms or 0,
                "ts": now,
                "sql": "",
                "sqlType": shape.sql_type,
                "mysqlType": shape.mysql_type,
                "data": data,
                "old": old,
            }
            if extension:
                message["_tidb"] = {"commitTs": event.commit_ts}
            value = _dumps(message)
            if len(value) > limit:
                raise MessageTooLargeError(
                    f"canal-json message of {len(value)} bytes for {event.describe()} "
                    f"exceeds max-message-bytes ({limit} bytes for key and value)"
                )
            out.append((None, value))
        return out

    def encode_ddl(self, event: DDLEvent) -> Message:
        message: dict[str, Any] = {
            "id": 0,
            "database": event.schema,
            "table": event.table or "",
            "pkNames": None,
            "isDdl": True,
            "type": classify(event.query).canal_type,
            "es": event.commit_time_ms or 0,
            "ts": self._clock(),
            "sql": event.query,
            "sqlType": None,
            "mysqlType": None,
            "data": None,
            "old": None,
        }
        if self.extension:
            message["_tidb"] = {"commitTs": event.commit_ts}
        value = _dumps(message)
        if len(value) > self.limit:
            raise MessageTooLargeError(f"canal-json DDL message of {len(value)} bytes exceeds max-message-bytes ({self.limit})")
        return None, value

    def encode_watermark(self, ts: int) -> Message | None:
        if not self.extension:
            return None
        now = self._clock()
        return None, _dumps(
            {
                "id": 0,
                "database": "",
                "table": "",
                "pkNames": None,
                "isDdl": False,
                "type": "TIDB_WATERMARK",
                "es": now,
                "ts": now,
                "sql": "",
                "sqlType": None,
                "mysqlType": None,
                "data": None,
                "old": None,
                "_tidb": {"watermarkTs": ts},
            }
        )


def _strings(image: dict[str, Any]) -> dict[str, str | None]:
    out = {}
    for name, value in image.items():
        out[name] = value if type(value) is str or value is None else canal_value(value)
    return out
