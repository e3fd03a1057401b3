"""What a stopped process says of the pipe lines it read and did not deliver."""

import pytest

from cdcsink.daemon import pipe_report


class _Pipe:
    def __init__(self, read: int, stored: int) -> None:
        self.read, self.stored = read, stored

    def lines_read(self) -> int:
        return self.read

    def lines_stored(self) -> int:
        return self.stored


@pytest.mark.parametrize(
    "read, stored, report",
    [
        (5, 5, None),
        (1, 0, "stdin: 1 line read was not delivered (line 1 of the pipe; no line of it is delivered)"),
        (3, 0, "stdin: 3 lines read were not delivered (lines 1-3 of the pipe; no line of it is delivered)"),
        (2, 1, "stdin: 1 line read was not delivered (line 2 of the pipe; the first line is delivered and checkpointed)"),
        (9, 1, "stdin: 8 lines read were not delivered (lines 2-9 of the pipe; the first line is delivered and checkpointed)"),
        (9, 7, "stdin: 2 lines read were not delivered (lines 8-9 of the pipe; the first 7 are delivered and checkpointed)"),
    ],
)
def test_the_report_counts_lines_in_words_that_agree_with_them(read, stored, report):
    assert pipe_report(_Pipe(read, stored)) == report  # type: ignore[arg-type]
