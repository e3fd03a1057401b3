"""README's simple type table is what the codec does: each row's canonical value
(the same rows as the main type table) is written in ``data`` as shown and reads
back as shown."""

from __future__ import annotations

import json

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.simple.decoder import SimpleDecoder
from cdcsink.codec.simple.encoder import SimpleEncoder
from tests.unit.docs.type_tables import TypeTable, row_event


def cells(declared: str, canonical: str) -> tuple[str, str]:
    event = row_event(declared, canonical)
    encoder, decoder = SimpleEncoder(EncoderOptions("simple")), SimpleDecoder()
    decoder.decode(*encoder.bootstrap(event))  # type: ignore[misc]
    key, value = encoder.encode_row(event)
    (decoded,) = decoder.decode(key, value)
    written = json.dumps(json.loads(value)["data"]["c"], ensure_ascii=False)
    return written, repr(decoded.after["c"])  # type: ignore[union-attr]


TABLE = TypeTable("type-table-simple", "| type | canonical | simple `data` | read back |", cells)
test_the_table_has_a_row_for_each_row_of_the_main_table, test_each_row = TABLE.tests()


if __name__ == "__main__":  # python -m tests.unit.docs.test_type_table_simple rewrites the table
    TABLE.rewrite_readme()
