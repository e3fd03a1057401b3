"""The one-line errors every encoder raises for a row it cannot write: where the
row came from, and which column holds what."""

from __future__ import annotations

from typing import Any

from cdcsink.errors import InvalidEventError
from cdcsink.events import RowEvent

#: What a value of each canonical type is called in an error.
EXPECTED = {int: "an integer", float: "a float", str: "a string", bytes: "bytes"}


def printable(name: str) -> str:
    """A name as it is, or quoted with escapes when it would break the one-line error."""
    return name if name.isprintable() else repr(name)


def event_origin(event: RowEvent) -> str:
    """``schema.table commit_ts=N`` and, when known, the input line."""
    where = f"{printable(event.schema)}.{printable(event.table)} commit_ts={event.commit_ts}"
    return f"{where} (input line {event.line})" if event.line else where


def bad_value(protocol: str, event: RowEvent, name: str, value: Any, expected: type) -> InvalidEventError:
    """The error for column ``name`` holding ``value`` where ``expected`` belongs."""
    column = event.table_info.column(name)
    type_name = column.type_name if column is not None else "?"
    return InvalidEventError(
        event_origin(event),
        f"{protocol}: column {name!r} ({type_name}): expected {EXPECTED.get(expected, expected)}, "
        f"got {type(value).__name__}",
    )


def check_known_columns(protocol: str, image: dict[str, Any], event: RowEvent) -> None:
    """Refuse an image that carries a column the row's ``columns`` do not declare."""
    info = event.table_info
    for name in image:
        if info.column(name) is None:
            raise InvalidEventError(event_origin(event), f"{protocol}: column {name!r} is not in columns")
