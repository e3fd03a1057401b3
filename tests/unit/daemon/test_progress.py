import asyncio
import io

from cdcsink.config import Settings
from cdcsink.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


class FakePipeline:
    sink = None
    checkpointer = None


def settings(follow: bool) -> Settings:
    return Settings(source={"type": "file", "path": "/x", "follow": follow}, sink={"uri": "kafka://k:1/t?protocol=canal-json"})


async def test_progress_only_on_a_terminal_for_one_shot_runs():
    assert Progress.start_if_terminal(FakePipeline(), settings(False), io.StringIO()) is None
    assert Progress.start_if_terminal(FakePipeline(), settings(True), Tty()) is None
    out = Tty()
    progress = Progress.start_if_terminal(FakePipeline(), settings(False), out)
    assert progress is not None
    await asyncio.sleep(0.01)
    progress.stop()
    assert "rows acked 0" in out.getvalue() and out.getvalue().endswith("\n")
