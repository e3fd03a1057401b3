"""One writer per checkpoint: an exclusive lock held for the daemon's whole life.

The lock is ``flock`` on ``<checkpoint file>.lock``. The kernel releases it when
its holder exits in any way (``kill -9`` included), so a stale lock cannot
outlive its process; the file itself stays (removing it would let a second
process lock a new file while the first still holds the old one). The holder
writes its pid, host and start time into the file, so the one refused can say
who holds it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from pathlib import Path

import orjson

from cdcsink.durable import ensure_writable_directory
from cdcsink.errors import ConfigError


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


class CheckpointLock:
    def __init__(self, store: Path, changefeed: str = "") -> None:
        self.store = store
        self.path = lock_path(store)
        self.changefeed = changefeed
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "CheckpointLock":
        """Take the lock or raise a one-line :class:`ConfigError` naming its holder."""
        ensure_writable_directory(self.path.parent, "checkpoint.store")
        try:
            # Never truncated before it is locked: the holder's record stays readable.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise ConfigError(f"checkpoint.store: cannot open the lock file {self.path}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(fd)
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(
                    f"checkpoint.store: {self.store} is in use by another cdcsink ({holder}); "
                    "one process per checkpoint: stop that one, or give this feed its own checkpoint.store"
                ) from None
            raise ConfigError(f"checkpoint.store: cannot lock {self.path}: {error.strerror}") from None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "changefeed": self.changefeed,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(record) + b"\n", 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> "CheckpointLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        record = orjson.loads(os.pread(fd, 4096, 0))
        holder = f"pid {record['pid']} on {record['host']}, started {record['started_at']}"
        if record.get("changefeed"):
            holder += f", changefeed {record['changefeed']}"
        return holder
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return "holder not recorded yet: it is starting"
