"""README's input example is input cdcsink reads as it stands: a user may copy
the block into a file and run it."""

from __future__ import annotations

from pathlib import Path

from cdcsink.decode import Decoder
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent

README = Path(__file__).resolve().parents[3] / "README.md"


def _input_example() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Input: change events as NDJSON") :]
    start = section.index("```json\n") + len("```json\n")
    return section[start : section.index("\n```", start)].splitlines()


def test_each_line_of_the_input_example_is_one_valid_event_in_order():
    decoder = Decoder()
    events = [decoder.decode(line.encode(), "README", n) for n, line in enumerate(_input_example(), 1)]
    rows = [event for event in events if type(event) is RowEvent]
    assert sorted(row.op for row in rows) == sorted({row.op for row in rows}) and len(rows) == 3  # insert, update, delete
    assert [type(event) for event in events[len(rows) :]] == [DDLEvent, ResolvedEvent]
