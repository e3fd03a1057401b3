"""Hypothesis strategies for the ways input may write a canonical value: for a
column and a canonical value (as ``tests/unit/codec/strategies.py`` draws
them), every JSON form the input decoder must turn back into that value.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from cdcsink.codec.schema import DATE, DATETIME, DURATION, ENUM, JSON, NEWDECIMAL, SET, TIMESTAMP, Column


def input_forms(column: Column, value: Any) -> st.SearchStrategy[Any]:
    """JSON values that all mean the canonical ``value`` of ``column``."""
    if column.tp == SET and value is not None:
        names = [member for i, member in enumerate(column.elems) if value >> i & 1]
        return st.one_of(
            st.sampled_from(input_variants(column, value)),
            st.permutations(names).map(",".join),
            st.lists(st.sampled_from(names), min_size=len(names)).filter(lambda chosen: set(chosen) == set(names))
            if names else st.just([]),
        )
    return st.sampled_from(input_variants(column, value))


def input_variants(column: Column, value: Any) -> list[Any]:
    """Some JSON values that mean the canonical ``value`` of ``column``, the
    canonical form itself first where JSON can carry it."""
    if value is None:
        return [None]
    tp = column.tp
    forms: list[Any] = [value]
    if tp == ENUM:
        forms.append(column.elems[value - 1])
    elif tp == SET:
        names = [member for i, member in enumerate(column.elems) if value >> i & 1]
        forms.extend([",".join(reversed(names)), names + names[:1]])
    elif tp == JSON:
        document = json.loads(value)
        if document is not None and type(document) is not str:
            forms.append(document)  # (a string or null document only as JSON text)
    elif column.binary:
        forms = [{"base64": base64.b64encode(value).decode()}, {"hex": value.hex()}, {"hex": value.hex().upper()}]
        try:
            forms.append(value.decode())
        except UnicodeDecodeError:
            pass
    elif tp == NEWDECIMAL:
        forms.extend(_decimal_variants(value, column.decimal or 0))
    elif tp in (DATETIME, TIMESTAMP, DURATION) or tp == DATE:
        forms.extend(_temporal_variants(value, column.decimal or 0, tp))
    elif type(value) is int and value in (0, 1) and column.type_name not in ("year",):
        forms.append(bool(value))
    elif type(value) is float and value.is_integer() and abs(value) < 2**53:
        forms.append(int(value))
    return forms


def _decimal_variants(text: str, scale: int) -> list[Any]:
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    variants = [f"+{text}" if not sign else text, f"{sign}00{whole}" + (f".{fraction}" if scale else "")]
    if scale:
        variants.append(f"{sign}{whole}.{fraction}000")
        trimmed = fraction.rstrip("0")
        variants.append(f"{sign}{whole}.{trimmed}" if trimmed else f"{sign}{whole}")
    else:
        variants.append(int(text))
        variants.append(f"{text}.000")
    if not sign and text.strip("0.") == "":
        variants.append("-" + text)  # a negative zero is zero
    return variants


def _temporal_variants(text: str, fsp: int, tp: int) -> list[str]:
    if tp == DATE:
        return []
    base, _, fraction = text.partition(".")
    variants = [f"{base}.{fraction}000" if fsp else f"{base}.000"]
    if fsp:
        trimmed = fraction.rstrip("0")
        variants.append(f"{base}.{trimmed}" if trimmed else base)
    if tp == DURATION:
        negative = base.startswith("-")
        hours, rest = base.lstrip("-").split(":", 1)
        if len(hours) == 2:
            variants.append(("-" if negative else "") + f"0{hours}:{rest}" + (f".{fraction}" if fsp else ""))
        if text.strip("0:.") == "":
            variants.append("-" + text)  # a negative zero is zero
    return variants
