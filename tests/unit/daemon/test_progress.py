import asyncio
import io
import logging
import sys

import pytest
import structlog

import cdcsink.logs
from cdcsink.config import Settings
from cdcsink.logs import configure_logging
from cdcsink.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


class FakePipeline:
    sink = None
    checkpointer = None


def settings(follow: bool) -> Settings:
    return Settings(source={"type": "file", "path": "/x", "follow": follow}, sink={"uri": "kafka://k:1/t?protocol=canal-json"})


def screen(output: str) -> list[str]:
    """The lines a terminal shows for ``output``: CR goes back to the start of the
    line, ESC[2K erases the line, LF starts a new one, anything else overwrites."""
    lines, column, i = [""], 0, 0
    while i < len(output):
        if output.startswith("\x1b[2K", i):
            lines[-1] = ""
            i += 4
            continue
        char = output[i]
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("")
            column = 0
        else:
            line = lines[-1].ljust(column)
            lines[-1] = line[:column] + char + line[column + 1 :]
            column += 1
        i += 1
    return lines


async def test_progress_only_on_a_terminal_for_one_shot_runs():
    assert Progress.start_if_terminal(FakePipeline(), settings(False), io.StringIO()) is None
    assert Progress.start_if_terminal(FakePipeline(), settings(True), Tty()) is None
    out = Tty()
    progress = Progress.start_if_terminal(FakePipeline(), settings(False), out)
    assert progress is not None
    await asyncio.sleep(0.01)
    progress.stop()
    assert "rows acked 0" in out.getvalue() and out.getvalue().endswith("\n")


@pytest.mark.parametrize("format", ["console", "json"])
async def test_log_lines_and_the_progress_line_never_overwrite_each_other(monkeypatch, format):
    terminal = Tty()
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging(format, "info")
    progress = Progress.start_if_terminal(FakePipeline(), settings(False))
    assert progress is not None
    await asyncio.sleep(0.01)  # the progress line is drawn
    structlog.get_logger("cdcsink").warning("pipeline failed; restarting from the checkpoint")
    logging.getLogger("aiokafka").error("Unable connect to node")
    print("a line written in parts", file=cdcsink.logs.log_stream())  # the text, then its newline
    progress.stop()
    shown = screen(terminal.getvalue())
    assert shown[-1] == ""  # the output ends with a newline
    shown = shown[:-1]
    # Each log line whole on its own line, the progress line (drawn again) last and once.
    assert [i for i, line in enumerate(shown) if "rows acked" in line] == [len(shown) - 1]
    assert shown[-1].startswith("rows acked 0")
    for text in ("pipeline failed; restarting from the checkpoint", "Unable connect to node", "a line written in parts"):
        [line] = [line for line in shown if text in line]
        assert "rows acked" not in line
    assert len(shown) == 4, shown
