"""Large messages, as TiCDC handles them (``large-message-handle-option``).

When a row's message would exceed the effective max-message-bytes:

- ``none``: the run stops with an error naming the row (nothing is skipped);
- ``handle-key-only``: a message with only the handle-key (pk) columns is sent
  instead, flagged ``_tidb.onlyHandleKey`` (canal-json) or ``ohk`` in the key
  (open-protocol); a consumer fetches the full row from the database;
- ``claim-check``: the full message is written to ``claim-check-storage-uri``
  first (a JSON file ``{"key": base64|null, "value": base64}``, written to a
  temp file, fsynced and renamed, so it exists before anything points at it),
  then a message with the handle-key columns and the file's location in
  ``_tidb.claimCheckLocation`` (canal-json) or ``ccl`` in the key
  (open-protocol) is sent; as in TiCDC it carries no ``onlyHandleKey``/``ohk``.

``large-message-handle-compression`` (lz4 frame, snappy raw block, zstd
frame) compresses every message value the encoder writes (rows, DDL,
canal-json watermarks; open-protocol compresses each entry's value) before
the size check; a consumer decompresses each value with the same codec.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

import cramjam
import orjson
import structlog

from cdcsink.durable import ensure_writable_directory, replace_durably
from cdcsink.errors import ConfigError, MessageTooLargeError
from cdcsink.events import RowEvent

log = structlog.get_logger("cdcsink.codec")

OPTIONS = ("none", "handle-key-only", "claim-check")
COMPRESSIONS = ("none", "lz4", "snappy", "zstd")

_COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "lz4": lambda data: bytes(cramjam.lz4.compress(data)),
    "snappy": lambda data: bytes(cramjam.snappy.compress_raw(data)),
    "zstd": lambda data: bytes(cramjam.zstd.compress(data)),
}
_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "lz4": lambda data: bytes(cramjam.lz4.decompress(data)),
    "snappy": lambda data: bytes(cramjam.snappy.decompress_raw(data)),
    "zstd": lambda data: bytes(cramjam.zstd.decompress(data)),
}


def compressor(name: str) -> Callable[[bytes], bytes] | None:
    """The value compressor for ``large-message-handle-compression``, or None."""
    return None if name == "none" else _COMPRESS[name]


def decompress(name: str, data: bytes) -> bytes:
    """What a consumer does with a value written with compression ``name``."""
    return data if name == "none" else _DECOMPRESS[name](data)


def storage_dir(uri: str) -> Path:
    """The directory of a ``file://`` claim-check storage URI."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise ConfigError(f"sink.claim-check-storage-uri: only file:// is supported, got {uri!r}")
    path = unquote(parts.netloc + parts.path)
    if not path:
        raise ConfigError("sink.claim-check-storage-uri: empty path (file:///abs/dir)")
    return Path(path)


class ClaimCheckStorage:
    """Full messages of oversized rows, one file each."""

    def __init__(self, uri: str) -> None:
        self.directory = storage_dir(uri)
        self.uri = "file://" + str(self.directory)

    def check_writable(self) -> None:
        ensure_writable_directory(self.directory, "sink.claim-check-storage-uri")

    def put(self, key: bytes | None, value: bytes) -> str:
        """Write one message durably; returns its location for the claim-check message."""
        name = f"{uuid.uuid4()}.json"
        payload = orjson.dumps(
            {"key": base64.b64encode(key).decode() if key is not None else None, "value": base64.b64encode(value).decode()}
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        replace_durably(self.directory / name, payload)
        return f"{self.uri}/{name}"


def refuse_unless_reducible(option: str, event: RowEvent, too_large: str) -> None:
    """Raise the too-large error when the row cannot be sent in a reduced form."""
    if option == "none":
        raise MessageTooLargeError(too_large + "; see large-message-handle-option")
    if not event.pk:
        raise MessageTooLargeError(f"{too_large}, and the table has no handle key (pk) for {option}")


def read_claim_check(location: str) -> tuple[bytes | None, bytes]:
    """The full message behind a claim-check location (what a consumer does)."""
    data = orjson.loads(Path(unquote(urlsplit(location).path)).read_bytes())
    key = base64.b64decode(data["key"]) if data["key"] is not None else None
    return key, base64.b64decode(data["value"])


def report_reduced(
    event: RowEvent, handling: str, size: int, location: str | None, counted: Callable[[str], None] | None
) -> None:
    """Log (and count, by handling) a row sent in its reduced form."""
    log.warning(
        "large message", handling=handling, schema=event.schema, table=event.table,
        commit_ts=event.commit_ts, bytes=size, location=location,
    )
    if counted is not None:
        counted(handling)
