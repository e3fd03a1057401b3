"""Row values: what the input writes, checked and turned into the one canonical
value of its column (the forms :mod:`cdcsink.codec.schema` lists), once, at
decode time, so every encoder can trust them.

What each column takes (anything else is invalid input, named
``after: column 'x': reason``):

==============================  ===============================================  ==================
column                          input value                                      canonical
==============================  ===============================================  ==================
integers (``tinyint`` ..        an integer within the type's range (unsigned:    ``int``
``bigint``)                     from 0); ``true``/``false`` as 1/0
``bit(M)``                      an integer 0 .. 2^M-1; ``true``/``false``        ``int``
``year``                        0 or 1901 .. 2155                                ``int``
``float``                       a number within float32's range, rounded to      ``float``
                                float32 as MySQL stores it
``double``                      a number                                         ``float``
``decimal(M,D)``                a string of digits (``"-12.50"``) or an integer;  ``str`` with exactly
                                at most M-D whole digits, at most D fraction     D fraction digits
                                digits (more are refused unless zeros); a JSON
                                number with a fraction is refused (its digits
                                are already rounded to a double)
``date``                        ``"YYYY-MM-DD"``                                 ``str``
``datetime(n)``,                ``"YYYY-MM-DD hh:mm:ss[.f]"``; at most n         ``str`` with exactly
``timestamp(n)``                fraction digits (more are refused unless zeros)  n fraction digits
``time(n)``                     ``"[-]hh:mm:ss[.f]"`` (hours up to 838)          as datetime
text strings (``char``,         a string                                         ``str``
``varchar``, ``text`` ..)
binary strings and blobs        a string (its UTF-8 bytes), ``{"base64": ".."}``  ``bytes``
                                or ``{"hex": ".."}`` (any bytes)
``enum``                        a member's name, or its 1-based index            ``int`` (index)
``set``                         ``"a,c"``, ``["a", "c"]``, or the bitmask        ``int`` (bitmask)
``json``                        a string is JSON text (it must parse); any       ``str``: the JSON
                                other value is the document itself               text as TiDB prints it
==============================  ===============================================  ==================

``null`` is NULL, refused in a NOT NULL column (a primary-key column is NOT
NULL). Enum and set members match exactly; with a case-insensitive collation
(``..._ci``) a member that differs only in case matches too. String lengths
are not checked against the declared length.

JSON text is printed as TiDB's ``BinaryJSON.String()`` prints it (TiCDC
passes that text on): object keys sorted by their bytes, ``", "`` and
``": "`` between items, integers as int64, then uint64, else a double;
doubles in Go's shortest form with a ``.0`` kept on whole numbers
(``1.0``, ``1e20`` from 1e15 up, ``1e-16`` below 1e-15).

Speed: a table's checks are planned once (:class:`ImageRules`). Integer,
text and double columns cost one type (and range) check per value, decimal
and date/time columns one match of their canonical text; only values in
another form, and the other types, call a converter. (A typed msgspec decoder
per table was tried for the images: no faster, once its structs are turned
back into dicts.) The compiled decoder makes the same checks from
:attr:`ImageRules.plan` and calls :meth:`ImageRules.convert` for any image
they do not settle.
"""

from __future__ import annotations

import binascii
import math
import re
import struct
from decimal import Decimal
from typing import Any, Callable

import msgspec

from cdcsink.codec.schema import (
    BIT, BLOBS, CHARS, DATE, DATETIME, DOUBLE, DURATION, ENUM, FLOAT, GEOMETRY, INTEGERS, JSON, NEWDECIMAL, SET,
    TIMESTAMP, YEAR, Column, TableSchema,
)

Convert = Callable[[Any], Any]

_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
_FLOAT32_MAX = 3.4028234663852886e38
_pack_f, _unpack_f = struct.Struct("<f").pack, struct.Struct("<f").unpack
_decode_json_text = msgspec.json.Decoder().decode


class ImageRules:
    """One table's value checks, planned from its :class:`TableSchema`.

    :meth:`convert` checks an image (a ``before`` or ``after`` object) and puts
    the canonical value of each column in place. An image may leave out columns
    that are not in the primary key; it may not carry a column that ``columns``
    does not declare.
    """

    __slots__ = ("count", "declared", "pk", "ints", "texts", "doubles", "patterned", "others", "full", "plan")

    def __init__(self, info: TableSchema) -> None:
        self.count = len(info.columns)
        self.declared = frozenset(column.name for column in info.columns)
        self.pk = info.pk
        #: name -> the column's full conversion (every rule, every message).
        self.full: dict[str, Convert] = {}
        ints: list[tuple[str, int, int]] = []
        texts: list[str] = []
        doubles: list[str] = []
        patterned: list[tuple[str, Callable[[str], Any]]] = []
        others: list[tuple[str, Convert, bool]] = []
        for column in info.columns:
            self.full[column.name] = column_converter(column)
            bounds = _int_bounds(column)
            if bounds is not None and column.tp != YEAR:
                ints.append((column.name, *bounds))
            elif (column.tp in CHARS or column.tp in BLOBS) and not column.binary:
                texts.append(column.name)
            elif column.tp == DOUBLE:
                doubles.append(column.name)
            elif column.tp in (NEWDECIMAL, DATE, DATETIME, TIMESTAMP, DURATION):
                patterned.append((column.name, canonical_text(column)))
            else:
                others.append((column.name, _value_converter(column), column.nullable))
        self.ints, self.texts, self.doubles, self.others = tuple(ints), tuple(texts), tuple(doubles), tuple(others)
        self.patterned = tuple(patterned)
        #: The same checks as data, one entry per column, for the compiled
        #: decoder (``cdcsink/decode/_speedups.c``): see :func:`check_plan`.
        self.plan = tuple(check_plan(column) for column in info.columns)

    def convert(self, image: dict[str, Any], side: str) -> None:
        """Check ``image`` and convert its values in place; :class:`ValueError`
        names the side, the column and what is wrong."""
        if len(image) != self.count:
            return self._convert_each(image, side)
        try:
            # The common case: every declared column is there, so (the counts
            # being equal) nothing undeclared is. A plain type check per value,
            # the full conversion only where it fails.
            full = self.full
            for name, low, high in self.ints:
                value = image[name]
                if type(value) is not int or value < low or value > high:
                    image[name] = _checked(full[name], value, side, name)
            for name in self.texts:
                value = image[name]
                if type(value) is not str:
                    image[name] = _checked(full[name], value, side, name)
            for name in self.doubles:
                value = image[name]
                if type(value) is not float:
                    image[name] = _checked(full[name], value, side, name)
            for name, canonical in self.patterned:
                value = image[name]
                if type(value) is not str or canonical(value) is None:
                    image[name] = _checked(full[name], value, side, name)
            for name, convert, nullable in self.others:
                value = image[name]
                if value is not None:
                    try:
                        image[name] = convert(value)
                    except ValueError as error:
                        raise ValueError(f"{side}: column {name!r}: {error}") from None
                elif not nullable:
                    image[name] = _checked(full[name], value, side, name)  # raises, naming why
        except KeyError:
            self._convert_each(image, side)  # a column is missing: it names what is wrong

    def _convert_each(self, image: dict[str, Any], side: str) -> None:
        """:meth:`convert` for an image that is not exactly the declared columns."""
        declared = self.declared
        if not image.keys() <= declared:
            name = next(name for name in image if name not in declared)
            raise ValueError(f"{side}: column {name!r} is not declared in columns")
        for name in self.pk:
            if name not in image:
                raise ValueError(f"{side}: pk column {name!r} is missing")
        full = self.full
        for name, value in image.items():
            image[name] = _checked(full[name], value, side, name)


#: The kinds of :func:`check_plan` (numbered as ``_speedups.c`` numbers them).
PLAN_INT, PLAN_TEXT, PLAN_DOUBLE, PLAN_DECIMAL, PLAN_DATE, PLAN_DATETIME, PLAN_TIME, PLAN_YEAR, PLAN_FLOAT, PLAN_BINARY, PLAN_OTHER = range(11)


def check_plan(column: Column) -> tuple[str, int, bool, int, int, int]:
    """``(name, kind, nullable, a, b, c)``: what :meth:`ImageRules.convert` does
    with a value of ``column``, for the compiled decoder. ``PLAN_INT``: an int
    within ``a .. b`` is kept; ``PLAN_DECIMAL``: text that is canonical for
    ``a`` whole and ``b`` fraction digits (``c``: unsigned) is kept;
    ``PLAN_DATETIME``/``PLAN_TIME``: canonical text with ``a`` fraction digits;
    ``PLAN_FLOAT``/``PLAN_BINARY``/``PLAN_YEAR``: the converters ``_float32``,
    ``_binary``, ``_year``; ``PLAN_OTHER``: only NULL is taken as it is. Any
    other value goes to :meth:`ImageRules.convert`."""
    tp = column.tp
    bounds = _int_bounds(column)
    kind, a, b, c = PLAN_OTHER, 0, 0, 0
    if bounds is not None and tp != YEAR:
        kind, a, b = PLAN_INT, max(bounds[0], _INT64[0]), min(bounds[1], _INT64[1])
    elif (tp in CHARS or tp in BLOBS) and not column.binary:
        kind = PLAN_TEXT
    elif tp == DOUBLE:
        kind = PLAN_DOUBLE
    elif tp == NEWDECIMAL:
        scale = column.decimal or 0
        kind, a, b, c = PLAN_DECIMAL, (column.flen if column.flen is not None else 10) - scale, scale, int(column.unsigned)
    elif tp == DATE:
        kind = PLAN_DATE
    elif tp in (DATETIME, TIMESTAMP):
        kind, a = PLAN_DATETIME, column.decimal or 0
    elif tp == DURATION:
        kind, a = PLAN_TIME, column.decimal or 0
    else:
        convert = _value_converter(column)
        if convert is _year:
            kind = PLAN_YEAR
        elif convert is _float32:
            kind = PLAN_FLOAT
        elif convert is _binary:
            kind = PLAN_BINARY
    return column.name, kind, column.nullable, a, b, c


def _checked(convert: Convert, value: Any, side: str, name: str) -> Any:
    try:
        return convert(value)
    except ValueError as error:
        raise ValueError(f"{side}: column {name!r}: {error}") from None


def column_converter(column: Column) -> Convert:
    """The function that turns an input value of ``column`` into its canonical
    value, or raises :class:`ValueError` saying why it cannot."""
    convert = _value_converter(column)
    if column.nullable:

        def nullable(value: Any) -> Any:
            return None if value is None else convert(value)

        return nullable
    why = "it is in the primary key" if column.primary_key else "the column is NOT NULL"

    def not_null(value: Any) -> Any:
        if value is None:
            raise ValueError(f"NULL, but {why}")
        return convert(value)

    return not_null


def _value_converter(column: Column) -> Convert:
    tp = column.tp
    bounds = _int_bounds(column)
    if tp == YEAR:
        return _year
    if bounds is not None:
        return _integer(column, *bounds)
    if tp == FLOAT:
        return _float32
    if tp == DOUBLE:
        return _double
    if tp == NEWDECIMAL:
        return _decimal(column)
    if tp in (DATE, DATETIME, TIMESTAMP, DURATION):
        return _temporal(column)
    if tp == ENUM:
        return _enum(column)
    if tp == SET:
        return _set(column)
    if tp == JSON:
        return _json
    if tp == GEOMETRY:
        return _geometry
    if column.binary:
        return _binary
    return _text


def _geometry(value: Any) -> Any:
    raise ValueError("a spatial value cannot be sent: TiDB has no spatial types and TiCDC's decoders refuse them (only NULL)")


def _int_bounds(column: Column) -> tuple[int, int] | None:
    """The accepted range of an integer-valued column (None for other types)."""
    if column.tp in INTEGERS:
        bits = _INT_BITS[column.type_name]
        return (0, 2**bits - 1) if column.unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if column.tp == BIT:
        return 0, 2 ** (column.flen or 1) - 1
    if column.tp == YEAR:
        return 0, 2155
    return None


def _describe(value: Any) -> str:
    """A value as the error names it: its JSON type, and the value when short."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    kind = type(value)
    if kind is str:
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if kind is int:
        return f"the integer {value}"
    if kind is float:
        return f"the number {value!r}"
    if kind is list:
        return "an array"
    return "an object"


def _integer(column: Column, low: int, high: int) -> Convert:
    type_text = column.type_name + (" unsigned" if column.unsigned and column.tp != BIT else "")
    if column.tp == BIT:
        type_text = f"bit({column.flen or 1})"

    def integer(value: Any) -> int:
        if type(value) is bool:
            value = int(value)
        elif type(value) is not int:
            raise ValueError(f"expected an integer for {type_text}, got {_describe(value)}")
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range for {type_text} ({low} .. {high})")
        return value

    return integer


def _year(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer for year, got {_describe(value)}")
    if value != 0 and not 1901 <= value <= 2155:
        raise ValueError(f"{value} is out of range for year (0, or 1901 .. 2155)")
    return value


def _float32(value: Any) -> float:
    kind = type(value)
    if kind is not float and kind is not int:
        raise ValueError(f"expected a number for float, got {_describe(value)}")
    try:
        number = float(value)
        if abs(number) > _FLOAT32_MAX:
            raise OverflowError
        return _unpack_f(_pack_f(number))[0]  # rounded to float32, as MySQL stores it
    except OverflowError:
        raise ValueError(f"{value} is out of range for float") from None


def _double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"{value} is out of range for double") from None
    raise ValueError(f"expected a number for double, got {_describe(value)}")


_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")


def _decimal(column: Column) -> Convert:
    # A bare DECIMAL is DECIMAL(10,0), as in MySQL and TiDB.
    precision = column.flen if column.flen is not None else 10
    scale = column.decimal or 0
    whole_digits = precision - scale
    type_text = f"decimal({precision},{scale})" + (" unsigned" if column.unsigned else "")
    unsigned = column.unsigned
    canonical = canonical_text(column)

    def decimal(value: Any) -> str:
        kind = type(value)
        if kind is str and canonical(value) is not None:
            return value
        if kind is int:
            text = str(value)
        elif kind is str:
            text = value
        elif kind is float:
            raise ValueError(
                f"a decimal given as the JSON number {value!r}: write it as a string ({_float_text_hint(value)}) "
                "or an integer, so that no digit is lost"
            )
        else:
            raise ValueError(f"expected a decimal string for {type_text}, got {_describe(value)}")
        match = _DECIMAL.fullmatch(text)
        if match is None or not (match.group(2) or match.group(3)):
            raise ValueError(f"{value!r} is not a decimal number (digits with an optional sign and point)")
        sign, whole, fraction = match.group(1), match.group(2).lstrip("0"), match.group(3) or ""
        if len(fraction) > scale:
            if fraction[scale:].strip("0"):
                raise ValueError(f"{value!r} has more fraction digits than {type_text} keeps ({scale})")
            fraction = fraction[:scale]
        if len(whole) > whole_digits:
            raise ValueError(f"{value!r} is out of range for {type_text}")
        zero = not whole and not fraction.strip("0")
        if sign == "-" and unsigned and not zero:
            raise ValueError(f"{value!r} is out of range for {type_text}")
        body = (whole or "0") + ("." + fraction.ljust(scale, "0") if scale else "")
        return "-" + body if sign == "-" and not zero else body

    return decimal


def _float_text_hint(value: float) -> str:
    return '"' + format(Decimal(repr(value)), "f") + '"'


# [0-9], not \d: \d would take other scripts' digits too.
_DATE_PATTERN = "[0-9]{4}-(?:0[0-9]|1[0-2])-(?:[0-2][0-9]|3[01])"
_CLOCK_PATTERN = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"


def canonical_text(column: Column) -> Callable[[str], Any]:
    """``fullmatch`` of a decimal or date/time column's canonical text: a value
    that matches is taken as it is (most input), with one match."""
    tp = column.tp
    if tp == NEWDECIMAL:
        scale = column.decimal or 0
        whole_digits = (column.flen if column.flen is not None else 10) - scale
        pattern = (
            ("" if column.unsigned else r"(?!-[0.]*\Z)-?")  # a negative zero is written 0
            + (f"(?:0|[1-9][0-9]{{0,{whole_digits - 1}}})" if whole_digits > 0 else "0")
            + (f"\\.[0-9]{{{scale}}}" if scale else "")
        )
    elif tp == DATE:
        pattern = _DATE_PATTERN
    else:
        fsp = column.decimal or 0
        fraction = f"\\.[0-9]{{{fsp}}}" if fsp else ""
        if tp == DURATION:  # (a negative zero is written 00:00:00)
            pattern = r"(?!-[0:.]*\Z)-?[0-9]{2}:[0-5][0-9]:[0-5][0-9]" + fraction
        else:
            pattern = _DATE_PATTERN + " " + _CLOCK_PATTERN + fraction
    return re.compile(pattern).fullmatch
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?")
_TIME = re.compile(r"(-?)([0-9]{2,3}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?")


def _temporal(column: Column) -> Convert:
    tp = column.tp
    fsp = column.decimal or 0
    name = column.type_name + (f"({fsp})" if fsp else "")
    canonical = canonical_text(column)

    def fraction_text(fraction: str | None, value: str) -> str:
        fraction = fraction or ""
        if len(fraction) > fsp:
            if fraction[fsp:].strip("0"):
                raise ValueError(f"{value!r} has more fraction digits than {name} keeps ({fsp})")
            fraction = fraction[:fsp]
        return "." + fraction.ljust(fsp, "0") if fsp else ""

    def date(value: Any) -> str:
        if type(value) is not str:
            raise ValueError(f"expected a string 'YYYY-MM-DD' for date, got {_describe(value)}")
        if canonical(value) is None:
            raise ValueError(f"{value!r} is not a date 'YYYY-MM-DD'")
        return value

    def datetime(value: Any) -> str:
        if type(value) is not str:
            raise ValueError(f"expected a string 'YYYY-MM-DD hh:mm:ss[.fraction]' for {name}, got {_describe(value)}")
        if canonical(value) is not None:
            return value
        match = _DATETIME.fullmatch(value)
        if match is None or not _datetime_fields_fit(match):
            raise ValueError(f"{value!r} is not a {name} 'YYYY-MM-DD hh:mm:ss[.fraction]'")
        fraction = match.group(7)
        if fraction is None and not fsp:
            return value
        return value[: match.end(6)] + fraction_text(fraction, value)

    def duration(value: Any) -> str:
        if type(value) is not str:
            raise ValueError(f"expected a string '[-]hh:mm:ss[.fraction]' for {name}, got {_describe(value)}")
        if canonical(value) is not None:
            return value
        match = _TIME.fullmatch(value)
        if match is None or int(match.group(3)) > 59 or int(match.group(4)) > 59:
            raise ValueError(f"{value!r} is not a {name} '[-]hh:mm:ss[.fraction]'")
        hours = int(match.group(2))
        fraction = fraction_text(match.group(5), value)
        clock = f"{hours:02d}:{match.group(3)}:{match.group(4)}"
        if hours > 838 or (clock == "838:59:59" and fraction.strip(".0")):
            raise ValueError(f"{value!r} is out of range for {name} (-838:59:59 .. 838:59:59)")
        negative = match.group(1) == "-" and (clock != "00:00:00" or fraction.strip(".0"))
        return ("-" if negative else "") + clock + fraction

    if tp == DATE:
        return date
    if tp == DURATION:
        return duration
    return datetime


def _datetime_fields_fit(match: re.Match[str]) -> bool:
    return (
        int(match.group(2)) <= 12 and int(match.group(3)) <= 31 and int(match.group(4)) <= 23
        and int(match.group(5)) <= 59 and int(match.group(6)) <= 59
    )


def _text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"expected a string, got {_describe(value)}")
    return value


def _binary(value: Any) -> bytes:
    kind = type(value)
    if kind is str:
        return value.encode()
    if kind is bytes:  # already canonical (an event built in code)
        return value
    if kind is dict and len(value) == 1:
        ((form, text),) = value.items()
        if form in ("base64", "hex") and type(text) is str:
            try:
                if form == "base64":
                    return binascii.a2b_base64(text, strict_mode=True)
                return binascii.a2b_hex(text)
            except (binascii.Error, ValueError) as error:
                raise ValueError(f"{form} value does not decode ({error})") from None
    raise ValueError(
        f'expected a string (its UTF-8 bytes), {{"base64": "..."}} or {{"hex": "..."}} for a binary column, got {_describe(value)}'
    )


def _members(column: Column) -> tuple[dict[str, int], dict[str, int] | None]:
    """Member name -> 1-based index; and by case-folded name when the collation
    is case-insensitive (the first of members that fold alike wins, as in MySQL)."""
    exact: dict[str, int] = {}
    for index, member in enumerate(column.elems, 1):
        exact.setdefault(member, index)
    if not (column.collation or "").endswith("_ci"):
        return exact, None
    folded: dict[str, int] = {}
    for index, member in enumerate(column.elems, 1):
        folded.setdefault(member.casefold(), index)
    return exact, folded


def _enum(column: Column) -> Convert:
    exact, folded = _members(column)
    count = len(column.elems)
    listing = ", ".join(repr(member) for member in column.elems)

    def enum(value: Any) -> int:
        kind = type(value)
        if kind is str:
            index = exact.get(value)
            if index is None and folded is not None:
                index = folded.get(value.casefold())
            if index is None:
                raise ValueError(f"{value!r} is not a member of enum({listing})")
            return index
        if kind is int:
            if not 1 <= value <= count:
                raise ValueError(f"enum index {value} is out of range (1 .. {count})")
            return value
        raise ValueError(f"expected a member name or its index (1 .. {count}) for enum, got {_describe(value)}")

    return enum


def _set(column: Column) -> Convert:
    exact, folded = _members(column)
    highest = 2 ** len(column.elems) - 1
    listing = ", ".join(repr(member) for member in column.elems)

    def bit(member: Any) -> int:
        if type(member) is not str:
            raise ValueError(f"a set member must be a string, got {_describe(member)}")
        index = exact.get(member)
        if index is None and folded is not None:
            index = folded.get(member.casefold())
        if index is None:
            raise ValueError(f"{member!r} is not a member of set({listing})")
        return 1 << (index - 1)

    def set_(value: Any) -> int:
        kind = type(value)
        if kind is str:
            if not value:
                return 0
            names: Any = value.split(",")
        elif kind is list:
            names = value
        elif kind is int:
            if not 0 <= value <= highest:
                raise ValueError(f"set bitmask {value} is out of range (0 .. {highest})")
            return value
        else:
            raise ValueError(f"expected 'a,b', a list of members or a bitmask for set, got {_describe(value)}")
        mask = 0
        for member in names:
            mask |= bit(member)
        return mask

    return set_


def _json(value: Any) -> str:
    if type(value) is str:
        try:
            value = _decode_json_text(value)
        except (msgspec.DecodeError, ValueError) as error:
            raise ValueError(f"JSON text that does not parse ({error}); give the document itself, or a string of JSON text") from None
    try:
        return tidb_json_text(value)
    except ValueError as error:
        raise ValueError(f"a JSON document TiDB cannot store: {error}") from None


# --- JSON text as TiDB prints it -------------------------------------------

_JSON_ESCAPE = re.compile('[\x00-\x1f"\\\\\u2028\u2029]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_MAX_DEPTH = 100


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    short = _SHORT_ESCAPES.get(char)
    return short if short is not None else f"\\u{ord(char):04x}"


def _json_string(text: str) -> str:
    return '"' + _JSON_ESCAPE.sub(_escape, text) + '"'


def go_json_float(number: float) -> str:
    """A double as TiDB's JSON printer writes it: Go's shortest digits, ``f``
    form with ``.0`` kept on whole numbers, ``e`` form (no ``+``, no exponent
    padding) from 1e15 up and below 1e-15."""
    if math.isinf(number) or math.isnan(number):
        raise ValueError(f"{number} is not a JSON number")
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-15 or magnitude >= 1e15):
        sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
        text = "".join(map(str, digits))
        power = exponent + len(text) - 1  # type: ignore[operator]
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return ("-" if sign else "") + f"{mantissa}e{power}"
    text = repr(number)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


def tidb_json_text(document: Any) -> str:
    """``document`` (a decoded JSON value) as TiDB's ``BinaryJSON.String()``."""
    parts: list[str] = []
    _append_json(document, parts, 0)
    return "".join(parts)


def _append_json(value: Any, parts: list[str], depth: int) -> None:
    kind = type(value)
    if kind is str:
        parts.append(_json_string(value))
    elif kind is int:
        if _INT64[0] <= value <= _UINT64_MAX:
            parts.append(str(value))
        else:  # beyond int64 and uint64 TiDB keeps a double
            try:
                parts.append(go_json_float(float(value)))
            except OverflowError:
                raise ValueError(f"the number {value} is out of range") from None
    elif kind is float:
        parts.append(go_json_float(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif kind is list or kind is dict:
        if value and depth >= _MAX_DEPTH:
            # A value at nesting level 101 makes the document deeper than TiDB takes.
            raise ValueError(f"nested deeper than {_MAX_DEPTH} levels")
        if kind is list:
            parts.append("[")
            for i, item in enumerate(value):
                if i:
                    parts.append(", ")
                _append_json(item, parts, depth + 1)
            parts.append("]")
        else:
            parts.append("{")
            for i, key in enumerate(sorted(value)):  # code-point order is UTF-8 byte order
                if len(key.encode()) > 65535:
                    raise ValueError("an object key longer than 65535 bytes")
                if i:
                    parts.append(", ")
                parts.append(_json_string(key))
                parts.append(": ")
                _append_json(value[key], parts, depth + 1)
            parts.append("}")
    else:
        raise ValueError(f"{kind.__name__} is not a JSON value")
