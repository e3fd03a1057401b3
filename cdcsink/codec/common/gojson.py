"""JSON text and numbers as TiCDC's Go code writes them.

TiCDC builds canal-json rows with easyjson's ``jwriter`` and DDL/watermark
messages with goccy/go-json; both escape strings the way Go's
``encoding/json`` did before Go 1.22:

- ``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e``, ``\\u0026`` (HTML-safe);
- ``\\n``, ``\\r``, ``\\t``, ``\\"`` and ``\\\\`` short, every other byte below
  0x20 as ``\\u00XX`` (lower-case hex), so backspace and form feed are
  ``\\u0008`` and ``\\u000c``, not ``\\b`` and ``\\f``;
- U+2028 and U+2029 as ``\\u2028`` and ``\\u2029``;
- everything else as UTF-8, unescaped (0x7f included).

orjson differs from that only in ``\\b``/``\\f`` and in leaving ``<>&`` and
U+2028/9 alone, so :func:`dumps` is orjson plus a rewrite of just those, done
only when the output holds a byte they start with.

Numbers: Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` (shortest digits that
read back to the same double, never an exponent: ``2``, ``100000000000000000000``,
``0.0000001``, ``-0``) and its 32-bit form for FLOAT columns.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal
from typing import Any

import orjson

_orjson_dumps = orjson.dumps
_ESCAPE = re.compile(rb"\\.|[<>&]|\xe2\x80[\xa8\xa9]")
_REPLACE = {
    b"<": b"\\u003c", b">": b"\\u003e", b"&": b"\\u0026",
    b"\\b": b"\\u0008", b"\\f": b"\\u000c",
    b"\xe2\x80\xa8": b"\\u2028", b"\xe2\x80\xa9": b"\\u2029",
}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace(match: re.Match[bytes]) -> bytes:
    text = match.group()
    return _REPLACE.get(text, text)


def go_escaped(data: bytes) -> bytes:
    """orjson output rewritten to Go's string escaping (see the module docstring).
    Most text has none of ``<>&``, a backslash or the lead byte of U+2028/9: one
    pass (``translate`` deleting them) tells, and such text is returned as is."""
    if len(data.translate(None, b"<>&\\\xe2")) == len(data):
        return data
    return _ESCAPE.sub(_replace, data)


def dumps(value: Any) -> bytes:
    """Compact JSON of ``value`` with Go's escaping. Strings holding lone
    surrogates (which no UTF-8 text can carry) are written with U+FFFD in their
    place, as Go writes invalid UTF-8."""
    try:
        return go_escaped(_orjson_dumps(value))
    except TypeError:
        return go_escaped(_orjson_dumps(without_surrogates(value)))


def without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by
    U+FFFD, as Go writes text that is not valid UTF-8."""
    if type(value) is str:
        return _LONE_SURROGATE.sub("\ufffd", value)
    if type(value) is dict:
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return [without_surrogates(v) for v in value]
    return value


def format_double(value: float) -> str:
    """``strconv.FormatFloat(value, 'f', -1, 64)``."""
    text = repr(value)
    if "e" in text:
        return format(Decimal(text), "f")
    if text.endswith(".0"):
        return text[:-2]
    if text in ("inf", "-inf", "nan"):
        return {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}[text]
    return text


_F32 = struct.Struct("<f")
FLOAT32_MAX = 3.4028234663852886e38
#: Values below FLOAT32_MAX + half its ulp still round to FLOAT32_MAX.
_FLOAT32_ROUNDS_TO_MAX = FLOAT32_MAX + 2.0**103


def to_float32(value: float) -> float:
    """``float32(value)``: the nearest single-precision value (as a Python float).
    :class:`OverflowError` when it rounds beyond the float32 range."""
    try:
        return _F32.unpack(_F32.pack(value))[0]
    except OverflowError:
        if abs(value) < _FLOAT32_ROUNDS_TO_MAX:
            return math.copysign(FLOAT32_MAX, value)
        raise


def format_float32(value: float) -> str:
    """``strconv.FormatFloat(float64(float32(value)), 'f', -1, 32)``: the shortest
    decimal that reads back to the same float32 (the closest of them when
    several have that many digits), positional."""
    single = to_float32(value)
    if single == 0.0 or math.isinf(single) or math.isnan(single):
        return format_double(single)
    for digits in range(1, 10):
        text = "%.*e" % (digits - 1, single)
        if _reads_back(Decimal(text), single):
            return format(Decimal(text).normalize(), "f")
        # Next to a power of two the float32 below is closer than the one above,
        # so the nearest n-digit decimal may miss while the one above it reads back.
        mantissa, exponent = text.split("e")
        negative = mantissa.startswith("-")
        units = int(mantissa.lstrip("-").replace(".", "")) + 1
        above = Decimal((1 if negative else 0, tuple(int(d) for d in str(units)), int(exponent) - (digits - 1)))
        if _reads_back(above, single):
            return format(above.normalize(), "f")
    return format(Decimal(repr(single)), "f")  # not reached: 9 digits always read back


def _reads_back(candidate: Decimal, single: float) -> bool:
    try:
        return to_float32(float(candidate)) == single
    except OverflowError:
        return False


# -- encoding/json since Go 1.22 (tiflow's maxwell encoder) -------------------------

_HTML_ONLY = re.compile(rb"[<>&]|\xe2\x80[\xa8\xa9]")


def marshal(value: Any) -> bytes:
    """``json.Marshal`` as Go 1.22 and later write it: :func:`dumps`, but with
    ``\\b`` and ``\\f`` kept short (Go 1.22 changed those two escapes); lone
    surrogates become U+FFFD."""
    try:
        data = _orjson_dumps(value)
    except TypeError:
        data = _orjson_dumps(without_surrogates(value))
    if len(data.translate(None, b"<>&\xe2")) == len(data):
        return data
    return _HTML_ONLY.sub(_replace, data)


def marshal_float(value: float, bits: int) -> str:
    """``json.Marshal`` of a float64 (``bits`` 64) or float32 (32): the shortest
    digits, positional, or ``e`` notation below 1e-6 and from 1e21 on, with the
    exponent's leading zero dropped when negative (``1e-07`` is ``1e-7``)."""
    from cdcsink.codec.common.golang import format_float32, format_float64

    text = format_float64(value) if bits == 64 else format_float32(value)
    if "e-0" in text:
        text = text.replace("e-0", "e-")
    return text
