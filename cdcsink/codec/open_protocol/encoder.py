"""TiCDC open-protocol: batched key/value messages.

A message's key is an 8-byte big-endian version header (1) followed by
entries ``[8-byte BE length][key JSON]``; its value is the matching entries
``[8-byte BE length][value JSON]`` (no header). Up to ``max-batch-size`` rows
of one partition share a message. Key JSON: ``{"ts","scm","tbl","t"}`` with
``t`` 1 row, 2 DDL, 3 resolved. Row value: ``{"u": cols}`` for an insert,
``{"u": cols, "p": pre-image}`` for an update, ``{"d": cols}`` for a delete;
each column ``{"t": mysql type, "h": true (handle key only), "f": flags, "v": value}``.
Blob and text values are base64 of their UTF-8 bytes, binary strings are
escaped, as TiCDC does. DDL value ``{"q": query, "t": action type}``; a
resolved event has one empty value entry.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Sequence

import orjson

from cdcsink.codec import Message
from cdcsink.codec.common.ddl_kind import classify
from cdcsink.codec.common.images import changed_columns, handle_key_columns
from cdcsink.jsonvalues import dumps
from cdcsink.codec.common.large import ClaimCheckStorage, compressor, refuse_unless_reducible, report_reduced
from cdcsink.codec.common.mysql_types import HANDLE_KEY_FLAG, PRIMARY_KEY_FLAG, STRING, VARCHAR, VARSTRING, type_info
from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.common.shapes import TableShapes
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import DELETE, INSERT, DDLEvent, RowEvent

VERSION = 1
ROW, DDL, RESOLVED = 1, 2, 3
_HEADER = struct.pack(">Q", VERSION)
_LEN = struct.Struct(">Q")
_dumps = orjson.dumps
_STRINGS = frozenset((STRING, VARCHAR, VARSTRING))


def _escape_binary(text: str) -> str:
    """Go's strconv.Quote without the quotes, as TiCDC escapes binary strings."""
    return orjson.dumps(text).decode()[1:-1]


class _ColumnShape:
    __slots__ = ("code", "flags", "handle", "blob", "binary_string")

    def __init__(self, sql_type: str, is_pk: bool) -> None:
        info = type_info(sql_type)
        self.code = info.mysql_code
        self.flags = info.flags | ((HANDLE_KEY_FLAG | PRIMARY_KEY_FLAG) if is_pk else 0)
        self.handle = is_pk
        self.blob = info.is_blob
        self.binary_string = info.binary and info.mysql_code in _STRINGS


def _column(shape: _ColumnShape, value: Any) -> dict[str, Any]:
    if value is not None:
        if shape.blob:
            value = base64.b64encode(value.encode() if isinstance(value, str) else dumps(value)).decode()
        elif shape.binary_string and isinstance(value, str):
            value = _escape_binary(value)
    if shape.handle:
        return {"t": shape.code, "h": True, "f": shape.flags, "v": value}
    return {"t": shape.code, "f": shape.flags, "v": value}


def _column_shapes(event: RowEvent) -> dict[str, _ColumnShape]:
    pk = set(event.pk)
    return {name: _ColumnShape(sql_type, name in pk) for name, sql_type in event.columns.items()}


class OpenProtocolEncoder:
    ddl_to_all_partitions = True

    def __init__(self, options: EncoderOptions) -> None:
        self.options = options
        self.limit = options.max_message_bytes
        self.batch_rows = options.max_batch_size
        self._shapes = TableShapes(_column_shapes)
        self._compress = compressor(options.large_message_handle_compression)
        self._large = options.large_message_handle_option
        self._claims = ClaimCheckStorage(options.claim_check_storage_uri) if self._large == "claim-check" else None
        self._changed_only = options.only_output_updated_columns
        self._delete_keys_only = options.delete_only_output_handle_key_columns

    def _image(self, shapes: dict[str, _ColumnShape], image: dict[str, Any]) -> dict[str, Any]:
        default = None
        out = {}
        for name, value in image.items():
            shape = shapes.get(name)
            if shape is None:
                shape = default = default or _ColumnShape("varchar", False)
            out[name] = _column(shape, value)
        return out

    def encode_row(self, event: RowEvent) -> tuple[bytes, bytes]:
        """One row's key and value JSON (without length prefixes)."""
        shapes = self._shapes.get(event)
        key = _dumps({"ts": event.commit_ts, "scm": event.schema, "tbl": event.table, "t": ROW})
        if event.op == DELETE:
            before = event.before
            if self._delete_keys_only and event.pk:
                before = handle_key_columns(before, event.pk)  # type: ignore[arg-type]
            value = {"d": self._image(shapes, before)}  # type: ignore[arg-type]
        elif event.op == INSERT:
            value = {"u": self._image(shapes, event.after)}  # type: ignore[arg-type]
        else:
            before = event.before
            if self._changed_only:
                before = changed_columns(before, event.after)  # type: ignore[arg-type]
            value = {"u": self._image(shapes, event.after), "p": self._image(shapes, before)}  # type: ignore[arg-type]
        encoded = dumps(value)
        if self._compress is not None:
            encoded = self._compress(encoded)
        if len(_HEADER) + 16 + len(key) + len(encoded) > self.limit:
            return self._oversized(event, key, encoded)
        return key, encoded

    def _oversized(self, event: RowEvent, key: bytes, value: bytes) -> tuple[bytes, bytes]:
        """A row whose one-row message exceeds the limit, handled as configured."""
        size = len(_HEADER) + 16 + len(key) + len(value)
        too_large = (
            f"open-protocol message of {size} bytes for {event.describe()} "
            f"exceeds max-message-bytes ({self.limit} bytes for key and value)"
        )
        refuse_unless_reducible(self._large, event, too_large)
        # As TiCDC: the handle-key columns either way; the key names the option.
        key_doc: dict[str, Any] = {"ts": event.commit_ts, "scm": event.schema, "tbl": event.table, "t": ROW}
        if self._claims is not None:
            key_doc["ccl"] = self._claims.put(_HEADER + _LEN.pack(len(key)) + key, _LEN.pack(len(value)) + value)
        else:
            key_doc["ohk"] = True
        shapes = self._shapes.get(event)
        pk = event.pk

        def handle(image: dict[str, Any]) -> dict[str, Any]:
            return self._image(shapes, handle_key_columns(image, pk))

        if event.op == DELETE:
            doc = {"d": handle(event.before)}  # type: ignore[arg-type]
        elif event.op == INSERT:
            doc = {"u": handle(event.after)}  # type: ignore[arg-type]
        else:
            doc = {"u": handle(event.after), "p": handle(event.before)}  # type: ignore[arg-type]
        reduced_key, reduced = _dumps(key_doc), dumps(doc)
        if self._compress is not None:
            reduced = self._compress(reduced)
        if len(_HEADER) + 16 + len(reduced_key) + len(reduced) > self.limit:
            raise MessageTooLargeError(f"{too_large}, and so does its {self._large} message")
        report_reduced(event, self._large, size, key_doc.get("ccl"), self.options.on_large_message)
        return reduced_key, reduced

    def pack(self, rows: list[Message]) -> list[Message]:
        """Length-prefixed entries, up to ``max-batch-size`` rows and the size limit per message."""
        limit, batch_rows = self.limit, self.batch_rows
        out: list[Message] = []
        keys: list[bytes] = [_HEADER]
        values: list[bytes] = []
        size = len(_HEADER)
        count = 0
        for key, value in rows:
            entry = 16 + len(key) + len(value)  # type: ignore[arg-type]
            if count and (count >= batch_rows or size + entry > limit):
                out.append((b"".join(keys), b"".join(values)))
                keys, values, size, count = [_HEADER], [], len(_HEADER), 0
            keys += (_LEN.pack(len(key)), key)  # type: ignore[arg-type]
            values += (_LEN.pack(len(value)), value)
            size += entry
            count += 1
        if count:
            out.append((b"".join(keys), b"".join(values)))
        return out

    def encode_rows(self, events: Sequence[RowEvent]) -> list[Message]:
        return self.pack([self.encode_row(event) for event in events])

    def encode_ddl(self, event: DDLEvent) -> Message:
        key_doc: dict[str, Any] = {"ts": event.commit_ts, "scm": event.schema}
        if event.table:
            key_doc["tbl"] = event.table
        key_doc["t"] = DDL
        key = _dumps(key_doc)
        value = _dumps({"q": event.query, "t": classify(event.query).action})
        if self._compress is not None:
            value = self._compress(value)
        message = (_HEADER + _LEN.pack(len(key)) + key, _LEN.pack(len(value)) + value)
        if len(message[0]) + len(message[1]) > self.limit:
            raise MessageTooLargeError(f"open-protocol DDL message exceeds max-message-bytes ({self.limit}): {event.describe()}")
        return message

    def encode_watermark(self, ts: int) -> Message | None:
        key = _dumps({"ts": ts, "t": RESOLVED})
        return _HEADER + _LEN.pack(len(key)) + key, _LEN.pack(0)


def decode_open_protocol(key: bytes | None, value: bytes | None) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Split a message back into (key JSON, value JSON or None) entries."""
    if not key or len(key) < 8 or _LEN.unpack_from(key, 0)[0] != VERSION:
        raise ValueError("not an open-protocol message (missing version header)")
    keys = _entries(key, 8)
    values = _entries(value or b"", 0)
    if len(values) != len(keys):
        raise ValueError(f"open-protocol message has {len(keys)} keys but {len(values)} values")
    return [(orjson.loads(k), orjson.loads(v) if v else None) for k, v in zip(keys, values)]


def _entries(buf: bytes, offset: int) -> list[bytes]:
    out = []
    while offset < len(buf):
        (length,) = _LEN.unpack_from(buf, offset)
        offset += 8
        out.append(buf[offset : offset + length])
        offset += length
    return out
