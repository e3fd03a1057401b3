"""Column values written as strings, as the protocols that carry every value as
text write them (canal-json, simple): one non-null canonical value in, its
string out, or :class:`TypeError` naming what was expected (the encoder turns
it into an error naming the row and the column)."""

from __future__ import annotations

from typing import Any

from cdcsink.codec.common.gojson import format_double, format_float32


def double_text(value: Any) -> str:
    """A ``double``: Go's ``FormatFloat(v, 'f', -1, 64)``."""
    if type(value) is float or type(value) is int:
        return format_double(float(value))
    raise TypeError("a number")


def float_text(value: Any) -> str:
    """A ``float``: Go's ``FormatFloat(v, 'f', -1, 32)``."""
    if type(value) is float or type(value) is int:
        try:
            return format_float32(float(value))
        except OverflowError:
            raise TypeError("a number within the float range") from None
    raise TypeError("a number")


def text(value: Any) -> str:
    """Text (and decimal, date/time, JSON text) as it is."""
    if type(value) is str:
        return value
    raise TypeError("a string")
