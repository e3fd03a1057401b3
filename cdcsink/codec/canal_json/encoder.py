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

from cdcsink.codec import Message
from cdcsink.codec.common.large import ClaimCheckStorage, compressor, refuse_unless_reducible, report_reduced
from cdcsink.codec.common.ddl_kind import classify
from cdcsink.codec.common.images import changed_columns, handle_key_columns
from cdcsink.jsonvalues import dumps
from cdcsink.codec.common.mysql_types import type_info
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.common.shapes import TableShapes
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DELETE, INSERT, DDLEvent, RowEvent

_TYPES = {INSERT: "INSERT", "update": "UPDATE", DELETE: "DELETE"}
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
    return dumps(value).decode()


class _TableShape:
    """A table's constant parts, pre-serialized: per op, every byte of a row
    message before ``es``, and everything between ``ts`` and the row data."""

    __slots__ = ("heads", "middle", "key_middle")

    def __init__(self, event: RowEvent) -> None:
        head = (
            b'{"id":0,"database":' + _dumps(event.schema) + b',"table":' + _dumps(event.table)
            + b',"pkNames":' + _dumps(event.pk) + b',"isDdl":false,"type":"'
        )
        self.heads = {op: head + name.encode() + b'","es":' for op, name in _TYPES.items()}
        self.middle = _middle(event.columns)
        # delete-only-output-handle-key-columns: a delete's types name only the pk columns.
        keys = {name: event.columns[name] for name in event.pk if name in event.columns}
        self.key_middle = _middle(keys) if event.pk else self.middle


def _middle(columns: dict[str, str]) -> bytes:
    sql_type = {name: type_info(t).java_type for name, t in columns.items()}
    return b',"sql":"","sqlType":' + _dumps(sql_type) + b',"mysqlType":' + _dumps(columns) + b',"data":['


class CanalJsonEncoder:
    ddl_to_all_partitions = False

    def __init__(self, options: EncoderOptions) -> None:
        self.options = options
        self.limit = options.max_message_bytes
        self.extension = options.enable_tidb_extension
        self._clock = options.clock_ms
        self._shapes = TableShapes(_TableShape)
        self._compress = compressor(options.large_message_handle_compression)
        self._large = options.large_message_handle_option
        self._claims = ClaimCheckStorage(options.claim_check_storage_uri) if self._large == "claim-check" else None
        self._changed_only = options.only_output_updated_columns
        self._delete_keys_only = options.delete_only_output_handle_key_columns

    def encode_row(self, event: RowEvent) -> Message:
        # Built from pre-serialized table parts and one orjson call per image:
        # the same bytes orjson would write for the whole message, in TiCDC's field order.
        shape = self._shapes.get(event)
        op = event.op
        middle = shape.middle
        if op == DELETE:
            before = event.before
            if self._delete_keys_only and event.pk:
                before = handle_key_columns(before, event.pk)  # type: ignore[arg-type]
                middle = shape.key_middle
            data = _dumps(_strings(before))  # type: ignore[arg-type]
            old = b"null"
        else:
            data = _dumps(_strings(event.after))  # type: ignore[arg-type]
            if op == INSERT:
                old = b"null"
            else:
                before = event.before
                if self._changed_only:
                    before = changed_columns(before, event.after)  # type: ignore[arg-type]
                old = b"[" + _dumps(_strings(before)) + b"]"  # type: ignore[arg-type]
        value = b'%b%d,"ts":%d%b%b],"old":%b%b' % (
            shape.heads[op],
            event.commit_time_ms or 0,
            self._clock(),
            middle,
            data,
            old,
            b',"_tidb":{"commitTs":%d}}' % event.commit_ts if self.extension else b"}",
        )
        if self._compress is not None:
            value = self._compress(value)
        if len(value) > self.limit:
            return self._oversized(event, value)
        return None, value

    def _oversized(self, event: RowEvent, value: bytes) -> Message:
        """A row whose message exceeds the limit, handled as configured."""
        too_large = (
            f"canal-json message of {len(value)} bytes for {event.describe()} "
            f"exceeds max-message-bytes ({self.limit} bytes for key and value)"
        )
        refuse_unless_reducible(self._large, event, too_large)
        # As TiCDC: the handle-key columns either way; the flag names the option.
        tidb: dict[str, Any] = {"commitTs": event.commit_ts}
        if self._claims is not None:
            tidb["claimCheckLocation"] = self._claims.put(None, value)
        else:
            tidb["onlyHandleKey"] = True
        pk, columns, op = event.pk, event.columns, event.op
        image = event.before if op == DELETE else event.after
        old = [_handle(event.before, pk)] if op not in (INSERT, DELETE) else None  # type: ignore[arg-type]
        reduced = _dumps(
            {
                "id": 0,
                "database": event.schema,
                "table": event.table,
                "pkNames": pk,
                "isDdl": False,
                "type": _TYPES[op],
                "es": event.commit_time_ms or 0,
                "ts": self._clock(),
                "sql": "",
                "sqlType": {name: type_info(columns[name]).java_type for name in pk},
                "mysqlType": {name: columns[name] for name in pk},
                "data": [_handle(image, pk)],  # type: ignore[arg-type]
                "old": old,
                "_tidb": tidb,
            }
        )
        if self._compress is not None:
            reduced = self._compress(reduced)
        if len(reduced) > self.limit:
            raise MessageTooLargeError(f"{too_large}, and so does its {self._large} message ({len(reduced)} bytes)")
        report_reduced(event, self._large, len(value), tidb.get("claimCheckLocation"), self.options.on_large_message)
        return None, reduced

    def pack(self, rows: list[Message]) -> list[Message]:
        return rows

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        return [self.encode_row(event) for event in events]

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
        if self._compress is not None:
            value = self._compress(value)
        if len(value) > self.limit:
            raise MessageTooLargeError(f"canal-json DDL message of {len(value)} bytes exceeds max-message-bytes ({self.limit})")
        return None, value

    def encode_watermark(self, ts: int) -> Message | None:
        if not self.extension:
            return None
        now = self._clock()
        value = _dumps(
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
        return None, self._compress(value) if self._compress is not None else value


def _handle(image: dict[str, Any], pk: list[str]) -> dict[str, str | None]:
    """The handle-key columns of an image, as canal-json strings."""
    return _strings(handle_key_columns(image, pk))


def _strings(image: dict[str, Any]) -> dict[str, str | None]:
    # Strings, NULLs and ints (the common cases) inline; the rest through canal_value.
    return {
        name: value if (kind := type(value)) is str or value is None else str(value) if kind is int else canal_value(value)
        for name, value in image.items()
    }
