"""A table model for rows whose message carries no column types (maxwell,
debezium without a schema): each column is typed by the JSON values it holds.

- a JSON integer: ``bigint`` (``bigint unsigned`` from 2^63 on), the value an int;
- any other JSON number: ``double``, the value a float;
- ``true``/``false``: ``tinyint(1)``, the value 1/0;
- a string: ``longtext``, the value the string;
- an object or array: ``json``, the value its JSON text (as TiDB prints it);
- only NULLs: ``longtext``.

What the message had as a binary string (base64 text), an enum (an index or
a name), a decimal or a date is a string or number here: the message does not
say which it was.
"""

from __future__ import annotations

from typing import Any

from cdcsink.codec.schema import TableSchema, parse_column

_INT64_MAX = 2**63 - 1


def declared_type(value: Any) -> str | None:
    """The type a JSON value stands for, None for NULL."""
    kind = type(value)
    if kind is bool:
        return "tinyint(1)"
    if kind is int:
        return "bigint unsigned" if value > _INT64_MAX else "bigint"
    if kind is float:
        return "double"
    if kind is str:
        return "longtext"
    if value is None:
        return None
    return "json"


def plain_value(value: Any) -> Any:
    """The canonical value of an untyped JSON value (see the module docstring)."""
    kind = type(value)
    if kind is bool:
        return 1 if value else 0
    if kind is dict or kind is list:
        from cdcsink.decode.values import tidb_json_text

        return tidb_json_text(value)
    return value


def untyped_table(schema: str, table: str, images: list[dict[str, Any]], pk: tuple[str, ...] = ()) -> TableSchema:
    """A table model for ``images`` (columns in the order they first appear)."""
    types: dict[str, str | None] = {}
    for image in images:
        for name, value in image.items():
            if types.get(name) is None:
                types[name] = declared_type(value)
    keys = set(pk)
    columns = tuple(
        parse_column(name, declared or "longtext", position, name in keys)
        for position, (name, declared) in enumerate(types.items())
    )
    return TableSchema(schema, table, columns, tuple(name for name in pk if name in types), {c.name: c for c in columns})
