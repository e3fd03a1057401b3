"""One writer per checkpoint: the lock, who holds it, and that a killed holder frees it."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cdcsink.checkpoint.lock import CheckpointLock
from cdcsink.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def test_a_second_holder_is_refused_in_one_line_naming_the_first(tmp_path):
    store = tmp_path / "cp.json"
    with CheckpointLock(store, "orders"):
        with pytest.raises(ConfigError) as info:
            CheckpointLock(store, "orders").acquire()
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"checkpoint.store: {store} is in use by another cdcsink (pid {os.getpid()} on {socket.gethostname()}, started ")
        assert "changefeed orders" in message
    # Released: the next one takes it.
    with CheckpointLock(store, "orders") as lock:
        assert lock.held


def test_a_holder_killed_with_sigkill_leaves_no_lock_behind(tmp_path):
    store = tmp_path / "cp.json"
    code = (
        "import sys, time\n"
        "from cdcsink.checkpoint.lock import CheckpointLock\n"
        f"CheckpointLock(__import__('pathlib').Path({str(store)!r})).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(ConfigError, match=f"pid {holder.pid} "):
            CheckpointLock(store).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with CheckpointLock(store) as lock:
            assert lock.held
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_lock_directory_that_cannot_be_created_names_the_setting(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ConfigError, match="checkpoint.store: cannot create"):
        CheckpointLock(tmp_path / "plain" / "cp.json").acquire()
