"""What README's per-codec type tables share: each repeats the rows of the main
type table (type, canonical value) and shows, per row, what one codec writes
and reads back; the table stands between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->`` and ``python -m`` on its test module rewrites it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

from cdcsink.events import RowEvent

README = Path(__file__).resolve().parents[3] / "README.md"
_CELL = re.compile(r"^`(.*)`$")


def main_table_rows() -> list[tuple[str, str]]:
    """(type, canonical) of each row of the main type table."""
    from tests.unit.docs.test_type_table import ROWS

    return [(row[0], row[2]) for row in ROWS]


def row_event(declared: str, canonical: str) -> RowEvent:
    """An insert whose column ``c`` of the declared type holds the canonical value."""
    return RowEvent("s", "t", 1, "insert", ["id"], {"id": "int", "c": declared}, None,
                    {"id": 1, "c": ast.literal_eval(canonical)})


class TypeTable:
    """README's table ``name``: header, then a row per row of the main type
    table, its type and canonical value followed by ``cells(type, canonical)``."""

    def __init__(self, name: str, header: str, cells: Callable[[str, str], Sequence[str]]) -> None:
        self.begin, self.end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        self.header = header
        self.cells = cells

    def readme_rows(self) -> list[tuple[str, ...]]:
        """The rows as README has them, each cell without its backquotes."""
        text = README.read_text()
        table = text[text.index(self.begin) + len(self.begin) : text.index(self.end)].strip().splitlines()
        if not table:
            return []
        assert table[0] == self.header
        return [tuple(_CELL.match(cell.strip()).group(1) for cell in line.strip().strip("|").split(" | "))  # type: ignore[union-attr]
                for line in table[2:]]

    def render(self) -> str:
        lines = [self.header, "|" + "---|" * (self.header.count(" | ") + 1)]
        for declared, canonical in main_table_rows():
            row = (declared, canonical, *self.cells(declared, canonical))
            lines.append("| " + " | ".join(f"`{cell}`" for cell in row) + " |")
        return "\n".join(lines)

    def tests(self) -> tuple[Callable[[], None], Callable[[tuple[str, ...]], None]]:
        """The table's tests, for its test module to hold under their names:
        README has a row for each row of the main type table, and each row
        shows what the codec does."""

        def test_the_table_has_a_row_for_each_row_of_the_main_table() -> None:
            shown = [row[:2] for row in self.readme_rows()]
            assert shown == main_table_rows(), f"README {self.begin}: (type, canonical) rows are not the main table's"

        @pytest.mark.parametrize("row", self.readme_rows(), ids=lambda row: f"{row[0]}={row[1]}")
        def test_each_row(row: Any) -> None:
            declared, canonical, *shown = row
            actual = tuple(self.cells(declared, canonical))
            assert tuple(shown) == actual, f"README {self.begin} shows {tuple(shown)}, the codec gives {actual}"

        return test_the_table_has_a_row_for_each_row_of_the_main_table, test_each_row

    def rewrite_readme(self) -> None:
        text = README.read_text()
        start, end = text.index(self.begin) + len(self.begin), text.index(self.end)
        README.write_text(text[:start] + "\n" + self.render() + "\n" + text[end:])
