"""README's simple type table is what the codec does: each row's canonical value
(the same rows as the main type table) is written in ``data`` as shown and reads
back as shown."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.simple.decoder import SimpleDecoder
from cdcsink.codec.simple.encoder import SimpleEncoder
from cdcsink.events import RowEvent

README = Path(__file__).resolve().parents[3] / "README.md"
BEGIN, END = "<!-- type-table-simple:begin -->", "<!-- type-table-simple:end -->"
HEADER = "| type | canonical | simple `data` | read back |"
_CELL = re.compile(r"^`(.*)`$")


def main_table_rows() -> list[tuple[str, str]]:
    from tests.unit.docs.test_type_table import ROWS

    return [(row[0], row[2]) for row in ROWS]


def cells(declared: str, canonical: str) -> tuple[str, str]:
    event = RowEvent("s", "t", 1, "insert", ["id"], {"id": "int", "c": declared}, None,
                     {"id": 1, "c": ast.literal_eval(canonical)})
    encoder, decoder = SimpleEncoder(EncoderOptions("simple")), SimpleDecoder()
    decoder.decode(*encoder.bootstrap(event))  # type: ignore[misc]
    key, value = encoder.encode_row(event)
    (decoded,) = decoder.decode(key, value)
    written = json.dumps(json.loads(value)["data"]["c"], ensure_ascii=False)
    return written, repr(decoded.after["c"])  # type: ignore[union-attr]


def render() -> str:
    lines = [HEADER, "|---|---|---|---|"]
    for declared, canonical in main_table_rows():
        lines.append("| " + " | ".join(f"`{cell}`" for cell in (declared, canonical, *cells(declared, canonical))) + " |")
    return "\n".join(lines)


def readme_rows() -> list[tuple[str, ...]]:
    text = README.read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip().splitlines()
    if not table:
        return []
    assert table[0] == HEADER
    return [tuple(_CELL.match(cell.strip()).group(1) for cell in line.strip().strip("|").split(" | "))  # type: ignore[union-attr]
            for line in table[2:]]


def test_the_table_has_a_row_for_each_row_of_the_main_table():
    assert [row[:2] for row in readme_rows()] == main_table_rows()


@pytest.mark.parametrize("row", readme_rows(), ids=lambda row: f"{row[0]}={row[1]}")
def test_each_row(row: Any):
    declared, canonical, *shown = row
    assert tuple(shown) == cells(declared, canonical)


if __name__ == "__main__":  # python -m tests.unit.docs.test_type_table_simple rewrites the table
    text = README.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + render() + "\n" + text[end:])
