"""Small value types shared by the components' config models."""

from __future__ import annotations

import difflib
import json
import re
from typing import Annotated, Iterable

from pydantic import BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """``"500ms"``, ``"1s"``, ``"2m"``, ``"1h"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 1s or 2m")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration such as 500ms, 1s or 2m")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in config as ``500ms``, ``1s``, ``2m`` or a plain number."""


def _parse_bool(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
    return value


Bool = Annotated[bool, BeforeValidator(_parse_bool)]
"""A boolean that also accepts the strings a URI or an env var carries."""


#: Text meant as a JSON list of strings (``["a", ...``, ``[]``), not a glob such as ``[0-9]*.ndjson``.
_JSON_LIST = re.compile(r'^\s*\[\s*("|\])')


def parse_text_list(value: object) -> object:
    """A list of strings given as text (an env var, a URI parameter, a YAML string):
    a JSON list (``["a","b"]``, for items that hold a comma) or comma-separated
    text (``a,b``); empty text is an empty list. Other values are left to the model."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)  # whether its items are strings, the model checks
        except ValueError as error:
            if _JSON_LIST.match(value):
                raise ValueError(f"not a JSON list ({error}): give a JSON list of strings or comma-separated text") from None
    return [item.strip() for item in value.split(",") if item.strip()]


def component_config() -> ConfigDict:
    """Every component config: unknown keys are errors, hyphenated aliases are accepted."""
    return ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=lambda name: name.replace("_", "-"),
        validate_default=True,
    )


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean X?)`` when one of ``candidates`` is close to ``name``, else ``""``."""
    pool = list(candidates)
    folded = {c.lower().replace("_", "-"): c for c in pool}
    match = difflib.get_close_matches(name.lower().replace("_", "-"), list(folded), n=1, cutoff=0.75)
    return f" (did you mean {folded[match[0]]}?)" if match else ""
