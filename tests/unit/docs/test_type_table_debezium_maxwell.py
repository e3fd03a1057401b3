"""README's debezium/maxwell type table is what the codecs do: each row's
canonical value (the same rows as the main type table) is written as shown and
reads back as shown."""

from __future__ import annotations

import json

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import build_decoder, build_encoder
from tests.unit.docs.type_tables import TypeTable, row_event

DEBEZIUM = EncoderOptions("debezium", enable_tidb_extension=True)
MAXWELL = EncoderOptions("maxwell")


def cells(declared: str, canonical: str) -> tuple[str, str, str, str]:
    event = row_event(declared, canonical)
    out: list[str] = []
    for options, part in ((DEBEZIUM, lambda doc: doc["payload"]["after"]), (MAXWELL, lambda doc: doc["data"])):
        ((key, value),) = build_encoder(options).encode_rows([event])
        written = json.dumps(part(json.loads(value))["c"], ensure_ascii=False)
        (decoded,) = build_decoder(options).decode(key, value)
        out += [written, repr(decoded.after["c"])]  # type: ignore[union-attr]
    return out[0], out[1], out[2], out[3]


TABLE = TypeTable(
    "type-table-debezium-maxwell",
    "| type | canonical | debezium `after` | debezium read back | maxwell `data` | maxwell read back |",
    cells,
)
test_the_table_has_a_row_for_each_row_of_the_main_table, test_each_row = TABLE.tests()


if __name__ == "__main__":  # python -m tests.unit.docs.test_type_table_debezium_maxwell rewrites the table
    TABLE.rewrite_readme()
