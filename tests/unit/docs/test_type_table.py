"""README's type table is what the code does: each row's input value is decoded
to the canonical value shown, and each encoder writes the value shown."""

from __future__ import annotations

import ast
import json
import re
import struct
from pathlib import Path

import pytest

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import build_encoder
from cdcsink.decode import Decoder

README = Path(__file__).resolve().parents[3] / "README.md"
_CELL = re.compile(r"^`(.*)`$")


def _rows() -> list[tuple[str, ...]]:
    text = README.read_text()
    table = text[text.index("<!-- type-table:begin -->") : text.index("<!-- type-table:end -->")]
    rows = []
    for line in table.splitlines()[3:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 5, line
        rows.append(tuple(_CELL.match(cell).group(1) for cell in cells))  # type: ignore[union-attr]
    return rows


ROWS = _rows()


def test_the_table_covers_every_supported_type():
    from tests.unit.codec.strategies import DECLARED_TYPES

    shown = {row[0] for row in ROWS}
    families = {re.match(r"[a-z]+", declared).group(0) for declared in DECLARED_TYPES}  # type: ignore[union-attr]
    assert families <= {re.match(r"[a-z]+", declared).group(0) for declared in shown}  # type: ignore[union-attr]


@pytest.mark.parametrize("declared, given, canonical, canal, open_protocol", ROWS, ids=[f"{r[0]}={r[1]}" for r in ROWS])
def test_each_row_of_the_type_table(declared, given, canonical, canal, open_protocol):
    line = json.dumps({
        "kind": "row", "schema": "s", "table": "t", "commit_ts": 1, "op": "insert", "pk": ["id"],
        "columns": {"id": "int", "c": declared}, "after": {"id": 1, "c": json.loads(given)},
    })
    event = Decoder().decode(line.encode(), "README", 1)
    expected = ast.literal_eval(canonical)
    assert event.after["c"] == expected and type(event.after["c"]) is type(expected)

    (_, value), = build_encoder(EncoderOptions(protocol="canal-json")).encode_rows([event])
    assert json.loads(value)["data"][0]["c"] == json.loads(canal)

    (_, value), = build_encoder(EncoderOptions(protocol="open-protocol")).encode_rows([event])
    (length,) = struct.unpack(">Q", value[:8])
    assert json.loads(value[8 : 8 + length])["u"]["c"]["v"] == json.loads(open_protocol)
