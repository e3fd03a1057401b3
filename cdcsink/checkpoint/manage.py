"""``cdcsink checkpoint show`` and ``cdcsink checkpoint reset``.

Reset is the one deliberate way to start a feed over: it takes the checkpoint's
lock (so it cannot pull the checkpoint from under a running daemon) and moves
the file aside rather than deleting it, so a mistaken reset can be undone by
moving it back.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import orjson

from cdcsink.checkpoint.lock import CheckpointLock
from cdcsink.checkpoint.store import store_path
from cdcsink.errors import ConfigError

if TYPE_CHECKING:
    from cdcsink.config import Settings


def _kafka_refusal(settings: "Settings", action: str) -> ConfigError:
    return ConfigError(
        f"checkpoint {action}: a kafka source's checkpoint is consumer group {settings.source.group}'s committed offsets "
        "(manage them with Kafka's tools, e.g. kafka-consumer-groups.sh --reset-offsets); checkpoint.store is not used"
    )


def show(settings: "Settings") -> str:
    """The checkpoint file's path and content (or that there is none yet)."""
    if settings.source.type == "kafka":
        raise _kafka_refusal(settings, "show")
    path = store_path(settings.checkpoint.store, settings.changefeed)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return f"{path}: no checkpoint yet (the next run starts from the beginning of its input)"
    except OSError as error:
        raise ConfigError(f"checkpoint.store: cannot read {path}: {error.strerror}") from None
    return f"{path}:\n{raw.decode(errors='replace').rstrip()}"


def reset(settings: "Settings") -> str:
    """Move the checkpoint aside (to ``<file>.reset-<UTC time>``) so the next run starts over."""
    if settings.source.type == "kafka":
        raise _kafka_refusal(settings, "reset")
    path = store_path(settings.checkpoint.store, settings.changefeed)
    if not path.exists():
        return f"{path}: no checkpoint to reset (the next run starts from the beginning of its input)"
    with CheckpointLock(path, settings.changefeed):
        aside = path.with_name(f"{path.name}.reset-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
        try:
            stored = orjson.loads(path.read_bytes())
            summary = f"checkpoint_ts {stored.get('checkpoint_ts')}, changefeed {stored.get('changefeed')!r}"
        except (OSError, orjson.JSONDecodeError, AttributeError):
            summary = "not readable as a checkpoint"
        try:
            os.replace(path, aside)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as error:
            raise ConfigError(f"checkpoint.store: cannot move {path} aside: {error.strerror}") from None
    return f"{path}: checkpoint ({summary}) moved aside to {aside.name}; the next run starts from the beginning of its input"
