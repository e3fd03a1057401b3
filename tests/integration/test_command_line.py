"""The ``cdcsink`` command as users run it, where no broker is needed: --version,
the last line of a failed start in the JSON log format, and a stop signal that
arrives while the daemon is still starting."""

from __future__ import annotations

import errno
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import cdcsink

ROOT = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    return {**clean, "PYTHONPATH": str(ROOT), **extra}


def test_version_names_cdcsink_python_and_the_hot_path():
    # Which hot path (compiled, partial or pure-python): tests/integration/test_extensions.py.
    out = subprocess.run([sys.executable, "-m", "cdcsink", "--version"], env=env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"cdcsink {cdcsink.__version__} (Python {platform.python_version()}, ")


def test_a_failed_start_ends_with_a_json_line_in_json_format(tmp_path):
    config = tmp_path / "cdcsink.yaml"
    config.write_text("log:\n  format: json\nsource:\n  path: /data/events.ndjson\nsink:\n  uri: kafka://k:9092/t?protocol=canal-json\n  partition-num: many\n")
    for extra in ({}, {"CDCSINK_CONFIG": str(config), "CDCSINK_LOG__FORMAT": "json", "CDCSINK_CHANGEFEED": "orders"}):
        args = [sys.executable, "-m", "cdcsink", "run"] + ([] if extra else ["--config", str(config)])
        out = subprocess.run(args, env=env(**extra), capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        [last] = out.stderr.strip().splitlines()  # only the reason, as a JSON log line
        record = json.loads(last)
        assert record["level"] == "critical" and record["exit_code"] == 2 and "timestamp" in record
        assert record["event"].startswith(f"{config}:7: sink.partition-num: ")
        assert record.get("changefeed") == extra.get("CDCSINK_CHANGEFEED")


def test_a_stop_signal_while_starting_is_a_clean_stop(tmp_path):
    """SIGTERM while the daemon is still reading its config (here a FIFO, which
    holds it there until written): a clean stop, exit 0, not death by the signal."""
    config = tmp_path / "cdcsink.yaml"
    os.mkfifo(config)
    (tmp_path / "events.ndjson").write_bytes(b'{"kind":"resolved","commit_ts":1}\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdcsink", "run", "--config", str(config)],
        env=env(CDCSINK_LOG__FORMAT="json", CDCSINK_HTTP__ENABLED="false"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # until the daemon opens the config for reading
            try:
                fd = os.open(config, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as error:
                assert error.errno == errno.ENXIO and proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(
                    f"source:\n  path: {tmp_path}/events.ndjson\n"
                    f"sink:\n  uri: kafka://127.0.0.1:9/t?protocol=canal-json\n"
                    f"checkpoint:\n  store: file://{tmp_path}/cp.json\n"
                )
        except BrokenPipeError:
            pass  # the signal killed it: the exit code below says so
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    logs = [json.loads(line) for line in proc.stderr.read().decode().splitlines()]
    assert [r["signal"] for r in logs if r["event"].startswith("stopping")] == ["SIGTERM"]
    assert not (tmp_path / "cp.json").exists()  # stopped before reading anything


def test_the_command_loads_nothing_slow_before_catching_the_stop_signals():
    """What runs before the handlers are in place is the interpreter's start and this
    light module: the slow imports (config models, logging, clients) come after."""
    code = "import sys, cdcsink.cli; print(sorted({'pydantic', 'structlog', 'aiokafka', 'asyncio', 'msgspec', 'yaml'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_one_stop_signal_while_the_event_loop_starts_is_one_signal(tmp_path):
    """SIGTERM after the event loop has started but before the daemon's handlers are
    in place (here: the input check opening a FIFO, which holds it there until
    written): one signal, so a clean stop, exit 0, never 'second signal' (130)."""
    fifo = tmp_path / "events.ndjson"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdcsink", "run"],
        env=env(
            CDCSINK_LOG__FORMAT="json",
            CDCSINK_HTTP__ENABLED="false",
            CDCSINK_SOURCE__PATH=str(fifo),
            CDCSINK_SINK__URI="kafka://127.0.0.1:9/t?protocol=canal-json",
            CDCSINK_CHECKPOINT__STORE=f"file://{tmp_path}/cp.json",
        ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        wchan = Path(f"/proc/{proc.pid}/wchan")
        while wchan.read_text() != "wait_for_partner":  # blocked opening the FIFO
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-3000:]
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            with open(fifo, "w") as f:  # lets the input check go on
                f.write('{"kind":"resolved","commit_ts":1}\n')
        except BrokenPipeError:
            pass  # the stopping daemon already closed the FIFO: what it read does not matter here
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    logs = [json.loads(line) for line in proc.stderr.read().decode().splitlines()]
    assert [r["signal"] for r in logs if r["event"].startswith(("stopping", "second signal"))] == ["SIGTERM"]


def test_output_cut_short_by_the_reader_is_no_traceback(tmp_path):
    """`cdcsink config show | head -3`: the reader closes the pipe early; the command
    stops quietly (no traceback), as a pipeline expects."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        out = subprocess.run(
            [sys.executable, "-m", "cdcsink", "config", "show"],
            env=env(CDCSINK_SINK__URI="kafka://127.0.0.1:9/t?protocol=canal-json", CDCSINK_SOURCE__PATH="/data/e.ndjson"),
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )
    finally:
        os.close(write_end)
    assert out.returncode == 1
    assert out.stderr == ""


def test_ctrl_c_in_a_command_that_is_not_the_daemon_is_no_traceback(tmp_path):
    """SIGINT while `cdcsink config show` reads its config (a FIFO, which holds it
    there): exit 130 as an interrupted command, without a traceback."""
    config = tmp_path / "cdcsink.yaml"
    os.mkfifo(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdcsink", "config", "show", "--config", str(config)],
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        wchan = Path(f"/proc/{proc.pid}/wchan")
        while wchan.read_text() != "wait_for_partner":  # blocked opening the config
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:]
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert "Traceback" not in proc.stderr.read()
