"""Files that survive a crash whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from cdcsink.errors import ConfigError


def ensure_writable_directory(directory: Path, where: str) -> None:
    """Create ``directory`` when missing; a :class:`ConfigError` naming the
    config key ``where`` when it cannot be created or written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{where}: cannot create {directory}: {error.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"{where}: directory {directory} is not writable")


def replace_durably(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically and durably: a temp file beside it,
    fsync, rename over ``path``, fsync of the directory. Readers see the old
    file or the new one, never a part; after a crash the rename has happened
    or not."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(payload)
        while view:  # a write may take only part of it
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
