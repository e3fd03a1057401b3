"""Checkpoint stores: where the acknowledged checkpoint survives a restart."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson

from cdcsink.durable import ensure_writable_directory, replace_durably
from cdcsink.errors import CdcsinkError, ConfigError


@dataclass
class Checkpoint:
    checkpoint_ts: int
    #: Where the source resumes: everything before it is acknowledged.
    position: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class CheckpointStore(Protocol):
    description: str

    def load(self) -> Checkpoint | None:
        """The stored checkpoint, or None on a first start."""
        ...

    def save(self, checkpoint: Checkpoint) -> None:
        """Persist ``checkpoint`` durably before returning."""
        ...

    def check_writable(self) -> None:
        """Raise :class:`ConfigError` when a save could not succeed."""
        ...


class FileCheckpointStore:
    """A JSON file replaced atomically: write a temp file, fsync, rename, fsync the directory."""

    def __init__(self, path: str | os.PathLike[str], changefeed: str = "default") -> None:
        self.path = Path(path)
        self.changefeed = changefeed
        self.description = f"file://{self.path}"

    def load(self) -> Checkpoint | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ConfigError(f"checkpoint.store: cannot read {self.path}: {error.strerror}") from None
        try:
            data = orjson.loads(raw)
            ts = data["checkpoint_ts"]
            position = data.get("position")
            if not isinstance(ts, int) or (position is not None and not isinstance(position, dict)):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise ConfigError(
                f"checkpoint.store: {self.path} is not a checkpoint file (JSON with an integer checkpoint_ts)"
            ) from None
        return Checkpoint(ts, position, {k: v for k, v in data.items() if k not in ("checkpoint_ts", "position")})

    def save(self, checkpoint: Checkpoint) -> None:
        data = {
            "checkpoint_ts": checkpoint.checkpoint_ts,
            "position": checkpoint.position,
            "changefeed": self.changefeed,
            "updated_at_ms": int(time.time() * 1000),
            **checkpoint.extra,
        }
        payload = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        try:
            replace_durably(self.path, payload)
        except OSError as error:
            raise CdcsinkError(
                f"checkpoint.store: cannot write {self.path}: {error.strerror or error}"
                f" (the stored checkpoint stays at the previous write)"
            ) from None

    def check_writable(self) -> None:
        ensure_writable_directory(self.path.parent, "checkpoint.store")


def open_store(uri: str, changefeed: str = "default") -> CheckpointStore:
    """``file:///abs/path.json`` or a plain path."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = unquote(parts.netloc + parts.path)
    elif parts.scheme == "":
        path = uri
    else:
        raise ConfigError(f"checkpoint.store: unsupported scheme {parts.scheme}:// (use file://)")
    if not path:
        raise ConfigError("checkpoint.store: empty path")
    return FileCheckpointStore(path, changefeed)
