"""JSON output of column values: ``orjson``, with an exact fallback for the one
thing it cannot write, integers wider than 64 bits (the decoder keeps them
exact; a DECIMAL(30,0) sent as a number is one)."""

from __future__ import annotations

import json
from typing import Any

import orjson

_dumps = orjson.dumps


def dumps(value: Any) -> bytes:
    try:
        return _dumps(value)
    except orjson.JSONEncodeError:
        return _exact(value, sort_keys=False)


def dumps_sorted(value: Any) -> bytes:
    """:func:`dumps` with object keys sorted (a canonical form, for hashing)."""
    try:
        return _dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _exact(value, sort_keys=True)


def _exact(value: Any, sort_keys: bool) -> bytes:
    """The stdlib's compact JSON, which writes integers of any width."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys).encode()
