"""Text exactly as TiCDC's Go code writes it, and reads it back.

- :func:`format_float64` / :func:`format_float32`: json-iterator v1.1.12's
  ``WriteFloat64`` / ``WriteFloat32`` (what TiCDC's JSON writer uses): the
  shortest digits that read back as the same float64 / float32, written like
  ``strconv.FormatFloat(f, 'f', -1, bits)`` (``100000000000000000000``,
  ``0.000001``) or, below 1e-6 and from 1e21 on, ``'e'`` (``1e+21``,
  ``1e-07``: json-iterator does not shorten the exponent as encoding/json does).
- :func:`quote` / :func:`unquote`: ``strconv.Quote`` without its quotes, which
  TiCDC applies to binary strings (``\\x89PNG\\r\\n\\x1a\\n``), and the
  ``strconv.Unquote`` its decoder applies. Printable non-ASCII characters stay
  as they are; "printable" follows Python's Unicode database (TiCDC's Go
  follows Unicode 15.0; a character added since, or in 15.0 on Python 3.11, is
  escaped on one side and kept on the other: same bytes once unquoted).
- :func:`json_iter_escapes`: orjson writes ``\\b`` and ``\\f`` where
  json-iterator writes ``\\u0008`` and ``\\u000c``; every other escape is the
  same (neither escapes ``<``, ``>``, ``&`` or U+2028/U+2029, unlike Go's
  encoding/json).
"""

from __future__ import annotations

import re
import struct
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache

_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")
_EXACT = Context(prec=200)


def to_float32(value: float) -> float:
    """Go's ``float32(value)``: round to nearest even; too large becomes ±Inf."""
    try:
        return _F32.unpack(_F32.pack(value))[0]
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


_F32_E_BELOW = to_float32(1e-6)
_F32_E_FROM = to_float32(1e21)


def format_float64(value: float) -> str:
    """json-iterator's ``WriteFloat64``; :class:`ValueError` for NaN and ±Inf."""
    text = repr(value)
    if "e" not in text:  # 1e-4 <= |value| < 1e16 (or 0): Python's repr is Go's 'f' but for a trailing ".0"
        if text[-1] == "0" and text[-2] == ".":
            return text[:-2]
        if text[-1] in "nf":
            raise ValueError(f"{value} cannot be written as JSON")
        return text
    negative = value < 0
    magnitude = -value if negative else value
    digits, point = _digits_of_repr(repr(magnitude))
    return _layout(negative, digits, point, magnitude < 1e-6 or magnitude >= 1e21)


def format_float32(value: float) -> str:
    """json-iterator's ``WriteFloat32`` of ``float32(value)``."""
    value = to_float32(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value} cannot be written as JSON (as a float32)")
    if value == 0:
        return "-0" if str(value)[0] == "-" else "0"
    negative = value < 0
    magnitude = -value if negative else value
    digits, point = _shortest_float32(magnitude)
    return _layout(negative, digits, point, magnitude < _F32_E_BELOW or magnitude >= _F32_E_FROM)


def _digits_of_repr(text: str) -> tuple[str, int]:
    """Python's shortest repr as (significant digits, decimal point position):
    the value is ``0.<digits> * 10**point``."""
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


@lru_cache(maxsize=8192)
def _shortest_float32(value: float) -> tuple[str, int]:
    """The fewest digits that read back as this float32 (the one nearest the
    value when several have that length), as Go's ``FormatFloat(.., -1, 32)``."""
    bits = _U32.unpack(_F32.pack(value))[0]
    if bits & 0x7FFFFF:
        # Away from a power of two the interval that reads back as this float32
        # is symmetric, so the nearest p-digit decimal is in it whenever any is.
        for precision in range(1, 10):
            text = f"{value:.{precision - 1}e}"
            if to_float32(float(text)) == value:
                return _digits_of_repr(text)
    below = _U32.pack(bits - 1)
    lower = _F32.unpack(below)[0] if bits > 1 else 0.0
    if bits + 1 >= 0x7F800000:
        upper_gap = Decimal(value) - Decimal(lower)
        upper = Decimal(value) + upper_gap
    else:
        upper = Decimal(_F32.unpack(_U32.pack(bits + 1))[0])
    exact = Decimal(value)
    low = _EXACT.divide(_EXACT.add(Decimal(lower), exact), 2)
    high = _EXACT.divide(_EXACT.add(exact, upper), 2)
    inclusive = bits % 2 == 0  # a tie rounds to the even mantissa
    lead = exact.adjusted()
    for precision in range(1, 10):
        unit = Decimal(1).scaleb(lead - precision + 1)
        first = _EXACT.divide_int(low, unit)
        if first * unit < low or (first * unit == low and not inclusive):
            first += 1
        last = _EXACT.divide_int(high, unit)
        if last * unit == high and not inclusive:
            last -= 1
        if first > last:
            continue
        nearest = int(_EXACT.divide(exact, unit).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        chosen = min(max(nearest, int(first)), int(last))
        text = str(chosen)
        return text.rstrip("0"), len(text) + lead - precision + 1
    raise AssertionError(f"no shortest form for {value!r}")  # 9 digits always suffice


def _layout(negative: bool, digits: str, point: int, exponent_form: bool) -> str:
    """Go's %f / %e with the shortest digits (``strconv.FormatFloat(.., 'f'|'e', -1, ..)``)."""
    sign = "-" if negative else ""
    if exponent_form:
        exponent = point - 1
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


# -- strconv.Quote / Unquote ------------------------------------------------

_SHORT_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 0x22: '\\"', 0x5C: "\\\\"}
_ASCII = [
    _SHORT_ESCAPES.get(code) or (f"\\x{code:02x}" if code < 0x20 or code == 0x7F else chr(code)) for code in range(128)
]
_PLAIN_ASCII = re.compile(rb"[ !#-\[\]-~]*")


def quote(data: bytes) -> str:
    """``strconv.Quote(string(data))`` without the surrounding quotes."""
    if _PLAIN_ASCII.fullmatch(data):
        return data.decode("ascii")
    out = []
    for char in data.decode("utf-8", "surrogateescape"):
        code = ord(char)
        if code < 0x80:
            out.append(_ASCII[code])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not part of valid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


_UNESCAPE = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 0x5C, '"': 0x22}
_HEX_WIDTH = {"x": 2, "u": 4, "U": 8}


def unquote(text: str) -> bytes:
    """``strconv.Unquote(`"` + text + `"`)`` as bytes; :class:`ValueError` where Go fails."""
    if "\\" not in text and "\n" not in text and '"' not in text:
        return text.encode("utf-8", "surrogatepass")
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\n" or char == '"':
            raise ValueError(f"unescaped {char!r} at {i}")
        if char != "\\":
            out += char.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("a lone backslash at the end")
        kind = text[i + 1]
        i += 2
        if kind in _UNESCAPE:
            out.append(_UNESCAPE[kind])
        elif kind in _HEX_WIDTH:
            width = _HEX_WIDTH[kind]
            digits = text[i : i + width]
            if len(digits) < width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"bad \\{kind} escape at {i - 2}")
            code = int(digits, 16)
            i += width
            if kind == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError(f"\\{kind}{digits} is not a valid rune")
            else:
                out += chr(code).encode("utf-8")
        elif "0" <= kind <= "7":
            digits = kind + text[i : i + 2]
            if len(digits) < 3 or not all("0" <= c <= "7" for c in digits) or int(digits, 8) > 255:
                raise ValueError(f"bad octal escape at {i - 2}")
            out.append(int(digits, 8))
            i += 2
        else:
            raise ValueError(f"unknown escape \\{kind} at {i - 2}")
    return bytes(out)


# -- json-iterator strings ------------------------------------------------------

_ORJSON_ONLY_ESCAPES = re.compile(rb"\\[\\bf]")
_JSON_ITER = {b"\\\\": b"\\\\", b"\\b": b"\\u0008", b"\\f": b"\\u000c"}


def json_iter_escapes(data: bytes) -> bytes:
    """orjson output with json-iterator's escapes for U+0008 and U+000C."""
    if b"\\" not in data or (b"\\b" not in data and b"\\f" not in data):  # one memchr first: most values have no escape
        return data
    return _ORJSON_ONLY_ESCAPES.sub(lambda match: _JSON_ITER[match.group()], data)
