"""Row images trimmed as TiCDC's payload options trim them (both protocols)."""

from __future__ import annotations

from typing import Any


def changed_columns(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``only-output-updated-columns``: the old image without the columns whose
    value the update left as it was (same JSON type and equal; ``1`` and
    ``1.0`` or ``true`` differ, as column types do in TiCDC)."""
    missing = object()
    return {
        name: value for name, value in before.items()
        if not (type(new := after.get(name, missing)) is type(value) and new == value)
    }


def handle_key_columns(image: dict[str, Any], pk: list[str]) -> dict[str, Any]:
    """The handle-key (pk) columns of an image, in pk order."""
    return {name: image.get(name) for name in pk}
