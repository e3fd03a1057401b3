"""open-protocol framing: how entries sit in a Kafka message.

A message's key is an 8-byte big-endian version (1) followed by entries
``[8-byte BE length][key JSON]``; its value is the matching entries
``[8-byte BE length][value JSON]``, without a version. A resolved (watermark)
message's value is one entry of length 0.

Sizes are counted as TiCDC counts them (ticdc ``pkg/sink/codec/open/codec.go``
and ``encoder.go``): a message is ``len(key) + len(value) +`` :data:`RECORD_OVERHEAD`
(``common.MaxRecordOverhead``, what a Kafka record adds around them).
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

VERSION = 1
#: Key ``t``: a row, a DDL, a resolved ts.
ROW, DDL, RESOLVED = 1, 2, 3
HEADER = struct.pack(">Q", VERSION)
LENGTH = struct.Struct(">Q")
#: ``5*binary.MaxVarintLen32 + binary.MaxVarintLen64 + 1``: a Kafka record's own bytes at most.
RECORD_OVERHEAD = 5 * 5 + 10 + 1
#: Bytes one entry adds besides its key and value JSON: the two length prefixes.
ENTRY_PREFIXES = 16


def split_entries(key: bytes | None, value: bytes | None) -> list[tuple[bytes, bytes]]:
    """The (key JSON, value JSON) entries of a message, without parsing them.
    :class:`ValueError` when the framing is broken."""
    if not key or len(key) < 8:
        raise ValueError("not an open-protocol message: the key has no version header")
    (version,) = LENGTH.unpack_from(key, 0)
    if version != VERSION:
        raise ValueError(f"open-protocol version {version} is not supported (expected {VERSION})")
    keys = _entries(key, 8, "key")
    values = _entries(value or b"", 0, "value")
    if len(values) != len(keys):
        raise ValueError(f"open-protocol message has {len(keys)} keys but {len(values)} values")
    return list(zip(keys, values))


def decode_open_protocol(key: bytes | None, value: bytes | None) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """A message's entries as (key JSON, value JSON or None for an empty value), parsed."""
    return [(orjson.loads(k), orjson.loads(v) if v else None) for k, v in split_entries(key, value)]


def _entries(buf: bytes, offset: int, part: str) -> list[bytes]:
    out = []
    while offset < len(buf):
        if offset + 8 > len(buf):
            raise ValueError(f"open-protocol {part} ends inside a length prefix")
        (length,) = LENGTH.unpack_from(buf, offset)
        offset += 8
        if offset + length > len(buf):
            raise ValueError(f"open-protocol {part} entry of {length} bytes runs past the end of the message")
        out.append(buf[offset : offset + length])
        offset += length
    return out
