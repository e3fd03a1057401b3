"""Files that survive a crash whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


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
