"""Column values as Debezium's MySQL connector types them, both ways.

TiCDC's rules (ticdc ``pkg/sink/codec/debezium/codec.go``
``writeDebeziumFieldValue``, and ``decoder.go`` ``decodeColumn`` back), for
cdcsink's canonical values:

===================  ==============================================================
type                 value written
===================  ==============================================================
``date``             days since 1970-01-01 (``io.debezium.time.Date``); a year
                     below 70 counts as 20xx, below 100 as 19xx; a date Go
                     cannot hold (``0000-00-00``, Feb 30) is NULL (0 when NOT NULL)
``datetime(0..3)``   ms since the epoch, UTC (``Timestamp``); ``(4..6)``: µs
                     (``MicroTimestamp``); same year rule and invalid dates
``timestamp``        ``YYYY-MM-DDThh:mm:ss[.fsp digits]Z`` (``ZonedTimestamp``),
                     taken as UTC; below ``1970-01-01 00:00:01``:
                     ``1970-01-01T00:00:00Z``
``time``             µs, signed (``MicroTime``)
``decimal``          the nearest double (a JSON number)
``float``            float32 digits; ``double``: float64 digits
``bigint unsigned``  as a signed int64 (2^64-1 is -1)
``bit(1)``           true/false; ``bit(M)``: its bytes little-endian, base64
``enum`` / ``set``   the member name / the names joined by ``,``
binary strings       base64; text and ``json``: the text
===================  ==============================================================
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
from functools import lru_cache
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_DURATION = re.compile(r"(-?)(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")
MIN_TIMESTAMP = "1970-01-01 00:00:01"
ZERO_TIMESTAMP = "1970-01-01T00:00:00Z"
_UINT64 = 2**64
_INT64_MAX = 2**63 - 1


def _go_year(year: int) -> int:
    """TiCDC's two-digit-year rule, applied to every date it writes."""
    if year < 70:
        return year + 2000
    if year < 100:
        return year + 1900
    return year


@lru_cache(maxsize=4096)
def _date_days(text: str) -> int | None:
    """Days since the epoch of a ``YYYY-MM-DD`` text that is a valid calendar
    date after the year rule, else None. The rule adds 1900 or 2000, which keeps
    whether a year is a leap year, so checking the date after it is checking it
    as Go does before it."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not (text[:4] + text[5:7] + text[8:]).isdigit():
        return None
    try:
        return _dt.date(_go_year(int(text[:4])), int(text[5:7]), int(text[8:])).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


def date_days(text: str) -> int | None:
    """``io.debezium.time.Date`` of a canonical date, None where TiCDC writes NULL."""
    return _date_days(text)


def datetime_micros(text: str) -> int | None:
    """µs since the epoch (UTC) of a canonical datetime, None where TiCDC writes NULL."""
    days = _date_days(text[:10])
    if days is None or len(text) < 19 or text[10] != " " or text[13] != ":" or text[16] != ":":
        return None
    clock = text[11:13] + text[14:16] + text[17:19]
    fraction = text[20:]
    if not clock.isdigit() or (len(text) > 19 and (text[19] != "." or not fraction.isdigit() or len(fraction) > 6)):
        return None
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hour > 23 or minute > 59 or second > 59:
        return None
    micros = int(fraction.ljust(6, "0")) if fraction else 0
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros


def zoned_timestamp(text: str) -> str | None:
    """``io.debezium.time.ZonedTimestamp`` of a canonical timestamp taken as UTC;
    None when it is not a valid calendar time (TiCDC fails to encode it)."""
    if text < MIN_TIMESTAMP:
        return ZERO_TIMESTAMP
    if datetime_micros(text) is None:
        return None
    return text.replace(" ", "T", 1) + "Z"


def duration_micros(text: str) -> int:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time")
    micros = ((int(match[2]) * 3600 + int(match[3]) * 60 + int(match[4])) * 1_000_000) + int((match[5] or "").ljust(6, "0"))
    return -micros if match[1] else micros


def bit_bytes(value: int, bits: int) -> bytes:
    """``getBitFromUint64``: the value's little-endian bytes, ceil(bits/8) of them."""
    return (value & (_UINT64 - 1)).to_bytes(8, "little")[: (bits + 7) // 8]


def signed_bigint(value: int) -> int:
    """An unsigned bigint as TiCDC writes it: the int64 of its bits, 2^64-1 as -1."""
    return value - _UINT64 if value > _INT64_MAX else value


def enum_name(elems: tuple[str, ...], index: int) -> str:
    """``ParseEnumValue``: the member, or "" for an index out of range."""
    return elems[index - 1] if 1 <= index <= len(elems) else ""


def set_names(elems: tuple[str, ...], mask: int) -> str:
    """``ParseSetValue``: the members of the bitmask in declared order, "" when it
    holds a bit past the last member."""
    if mask >> len(elems):
        return ""
    return ",".join(member for bit, member in enumerate(elems) if mask >> bit & 1)


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# -- back -------------------------------------------------------------------------


def date_text(days: int) -> str:
    return _dt.date.fromordinal(days + _EPOCH_ORDINAL).isoformat()


def datetime_text(micros: int, fsp: int) -> str:
    """A canonical datetime with ``fsp`` fraction digits from µs since the epoch."""
    seconds, fraction = divmod(micros, 1_000_000)
    days, seconds = divmod(seconds, 86400)
    date = _dt.date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
    hour, rest = divmod(seconds, 3600)
    text = f"{date} {hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return text + "." + f"{fraction:06d}"[:fsp] if fsp else text


def duration_text(micros: int, fsp: int) -> str:
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    hours, rest = divmod(seconds, 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return text + "." + f"{fraction:06d}"[:fsp] if fsp else text


_ZONED = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")


def timestamp_text(zoned: str) -> str:
    """A ``ZonedTimestamp`` as a canonical timestamp in UTC, its fraction digits
    kept as written."""
    match = _ZONED.match(zoned)
    if match is None:
        raise ValueError(f"{zoned!r} is not an ISO-8601 timestamp")
    date, clock, fraction, zone = match.groups()
    fraction = fraction or ""
    if zone != "Z" and zone.replace(":", "") not in ("+0000", "-0000"):
        moment = _dt.datetime.fromisoformat(f"{date}T{clock}{zone}").astimezone(_dt.timezone.utc)
        date, clock = moment.date().isoformat(), moment.time().isoformat()
    return f"{date} {clock}{fraction[:7]}"


def bit_value(data: bytes) -> int:
    return int.from_bytes(data, "little")


def enum_index(elems: tuple[str, ...], name: str) -> int:
    try:
        return elems.index(name) + 1
    except ValueError:
        if name == "":
            return 0
        raise ValueError(f"{name!r} is not a member of the enum") from None


def set_mask(elems: tuple[str, ...], names: str) -> int:
    mask = 0
    for name in names.split(",") if names else ():
        try:
            mask |= 1 << elems.index(name)
        except ValueError:
            raise ValueError(f"{name!r} is not a member of the set") from None
    return mask

