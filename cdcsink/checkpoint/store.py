"""Checkpoint stores: where the acknowledged checkpoint survives a restart."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol
from urllib.parse import unquote, urlsplit

import orjson
import structlog

from cdcsink.checkpoint.owner import Owner
from cdcsink.durable import ensure_writable_directory, replace_durably
from cdcsink.errors import CdcsinkError, ConfigError

log = structlog.get_logger("cdcsink.checkpoint")

#: Keys of the checkpoint file that are not the checkpoint itself.
_RECORD_KEYS = ("checkpoint_ts", "position", "changefeed", "source", "sink", "updated_at_ms")
RESET_HINT = "to start this feed over from the beginning of its input: cdcsink checkpoint reset"


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

    async def save(self, checkpoint: Checkpoint) -> bool:
        """Persist ``checkpoint`` durably before returning True; False when it could not be
        stored this time and nothing changed (the next advance tries again)."""
        ...

    def check_writable(self) -> None:
        """Raise :class:`ConfigError` when a save could not succeed."""
        ...


class FileCheckpointStore:
    """A JSON file replaced atomically: write a temp file, fsync, rename, fsync the directory.

    With an ``owner``, the file records it and :meth:`load` refuses a file another
    feed wrote; without one only the changefeed is recorded and compared.
    """

    def __init__(self, path: str | os.PathLike[str], changefeed: str = "default", owner: Owner | None = None) -> None:
        self.path = Path(path)
        self.owner = owner
        self.changefeed = owner.changefeed if owner is not None else changefeed
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
        self._check_owner(data)
        return Checkpoint(ts, position, {k: v for k, v in data.items() if k not in _RECORD_KEYS})

    def _check_owner(self, data: dict[str, Any]) -> None:
        """Refuse another feed's checkpoint; adopt (with a warning) one written before owners were recorded."""
        if self.owner is None:
            stored = data.get("changefeed", self.changefeed)
            differences = [] if stored == self.changefeed else [f"changefeed: stored {stored!r}, configured {self.changefeed!r}"]
        elif "source" not in data or "sink" not in data:
            stored = data.get("changefeed", self.changefeed)
            if stored != self.changefeed:
                differences = [f"changefeed: stored {stored!r}, configured {self.changefeed!r}"]
            else:
                log.warning(
                    "the checkpoint does not record its source and sink (an older cdcsink wrote it); "
                    "adopting it for this feed, whose next write records them",
                    store=self.description, source=self.owner.source, topic=self.owner.topic,
                )
                return
        else:
            differences = self.owner.differences(data)
        if differences:
            if data.get("changefeed") == self.changefeed:  # two feeds left at one name share its default file
                advice = (
                    f"another feed of the same changefeed name {self.changefeed!r}: give this feed a changefeed "
                    f"name of its own (or its own checkpoint.store); if it replaces that feed, {RESET_HINT}"
                )
            else:
                advice = f"{RESET_HINT} (or give this feed its own checkpoint.store)"
            raise ConfigError(
                f"checkpoint.store: {self.path} is another feed's checkpoint ({'; '.join(differences)}); {advice}"
            )

    async def save(self, checkpoint: Checkpoint) -> bool:
        """:meth:`write` in a worker thread (the fsyncs never hold up the event loop)."""
        await asyncio.to_thread(self.write, checkpoint)
        return True

    def write(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint`` durably (blocking)."""
        owner = self.owner.record() if self.owner is not None else {"changefeed": self.changefeed}
        data = {
            "checkpoint_ts": checkpoint.checkpoint_ts,
            "position": checkpoint.position,
            **owner,
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


def state_directory(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """Where per-user state lives: ``$XDG_STATE_HOME`` when set (and absolute), else
    ``~/Library/Application Support`` on macOS and ``~/.local/state`` elsewhere."""
    xdg = env.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg)
    try:
        home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    except (KeyError, RuntimeError):
        raise ConfigError(
            "checkpoint.store: no default location (neither $XDG_STATE_HOME nor a home directory is known); set checkpoint.store"
        ) from None
    return home / "Library" / "Application Support" if platform == "darwin" else home / ".local" / "state"


def default_store_path(changefeed: str, env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """``<state directory>/cdcsink/<changefeed>/checkpoint.json``: one file per feed,
    independent of the directory the daemon is started from."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", changefeed) or "_"
    if name in (".", ".."):
        name = name.replace(".", "_")
    return state_directory(env, platform) / "cdcsink" / name / "checkpoint.json"


def store_path(uri: str | None, changefeed: str = "default") -> Path:
    """The file a ``checkpoint.store`` value names (the per-feed default when None)."""
    if uri is None:
        return default_store_path(changefeed)
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = unquote(parts.netloc + parts.path)
    elif parts.scheme == "":
        path = uri
    else:
        raise ConfigError(f"checkpoint.store: unsupported scheme {parts.scheme}:// (use file://)")
    if not path:
        raise ConfigError("checkpoint.store: empty path")
    return Path(path)


def open_store(uri: str | None, changefeed: str = "default", owner: Owner | None = None) -> CheckpointStore:
    """``file:///abs/path.json``, a plain path, or None for the per-feed default."""
    if owner is not None:
        changefeed = owner.changefeed
    return FileCheckpointStore(store_path(uri, changefeed), changefeed, owner)
