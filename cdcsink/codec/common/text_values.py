"""Column values written as text, read back as TiCDC's decoders read them.

Go's ``strconv.ParseInt`` / ``ParseUint`` / ``ParseFloat`` and TiDB's checks
of decimal, date, time and JSON text, shared by the decoders of the protocols
that carry values as strings (canal-json, simple). Each raises
:class:`ValueError` saying what is wrong; the decoder names the column.
"""

from __future__ import annotations

import json
import math
import re

import orjson

from cdcsink.codec.common.gojson import to_float32

_INT = re.compile(r"[+-]?[0-9]+\Z")
_UINT = re.compile(r"[0-9]+\Z")
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)\Z", re.I
)
_DECIMAL = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*\Z")
_DATE = re.compile(r"([0-9]{1,4})-([0-9]{1,2})-([0-9]{1,2})\Z")
_DATETIME = re.compile(
    r"([0-9]{1,4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T]([0-9]{1,2}):([0-9]{1,2})(?::([0-9]{1,2})(?:\.([0-9]*))?)?)?\Z"
)
_DURATION = re.compile(r"-?(?:([0-9]+) )?([0-9]{1,3}):([0-9]{1,2})(?::([0-9]{1,2})(?:\.([0-9]*))?)?\Z")


def parse_int(text: str) -> int:
    if _INT.match(text) is None:
        raise ValueError("invalid syntax")
    number = int(text)
    if not -(2**63) <= number < 2**63:
        raise ValueError("value out of range")
    return number


def parse_uint(text: str) -> int:
    if _UINT.match(text) is None:
        raise ValueError("invalid syntax")
    number = int(text)
    if number >= 2**64:
        raise ValueError("value out of range")
    return number


def parse_double(text: str) -> float:
    if _FLOAT.match(text) is None:
        raise ValueError("invalid syntax")
    number = float(text)
    if math.isinf(number) and "inf" not in text.lower():
        raise ValueError("value out of range")
    return number


def parse_float32(text: str) -> float:
    number = parse_double(text)
    try:
        return to_float32(number)
    except OverflowError:
        raise ValueError("value out of range") from None


def check_decimal(text: str) -> str:
    if _DECIMAL.match(text) is None:
        raise ValueError("invalid decimal")
    return text


def check_clock(hour: str | None, minute: str | None, second: str | None, max_hour: int = 23) -> None:
    if hour is not None and int(hour) > max_hour or minute is not None and int(minute) > 59 or second is not None and int(second) > 59:
        raise ValueError("invalid time")


def check_date(year: str, month: str, day: str) -> None:
    if int(month) > 12 or int(day) > 31:
        raise ValueError("invalid date")


def check_datetime(text: str) -> str:
    found = _DATETIME.match(text)
    if found is None:
        raise ValueError("invalid time format")
    check_date(*found.group(1, 2, 3))
    check_clock(*found.group(4, 5, 6))
    return text


def check_date_only(text: str) -> str:
    found = _DATE.match(text) or _DATETIME.match(text)
    if found is None:
        raise ValueError("invalid time format")
    check_date(*found.group(1, 2, 3))
    return text


def check_duration(text: str) -> str:
    found = _DURATION.match(text)
    if found is None:
        raise ValueError("invalid duration")
    days, hours, minutes, seconds = found.group(1, 2, 3, 4)
    if (int(days or 0) * 24 + int(hours)) > 838:
        raise ValueError("duration out of range")
    check_clock(None, minutes, seconds)
    return text


def check_json(text: str) -> str:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            json.loads(text)
        except ValueError as error:
            raise ValueError(f"invalid JSON text: {error}") from None
    return text
