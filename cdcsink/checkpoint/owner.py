"""Whose checkpoint it is.

A checkpoint file records the feed that wrote it: the changefeed, the input
(the file paths or glob, or stdin) and the sink's default topic and brokers.
A feed that finds another feed's checkpoint refuses to start instead of
resuming from a position that is not its own (which would skip its input or
send it to the wrong place).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdcsink.config import Settings


@dataclass(frozen=True)
class Owner:
    changefeed: str
    #: ``file:/abs/path[,/abs/glob*]`` or ``stdin``.
    source: str
    topic: str
    brokers: tuple[str, ...]

    @classmethod
    def of(cls, settings: "Settings") -> "Owner":
        config = settings.source
        if config.type == "file":
            # Absolute, so the same relative path run from another directory is another input.
            source = "file:" + ",".join(os.path.abspath(path) for path in config.path)
        elif config.type == "postgres":
            source = f"postgres slot {config.slot}"
        else:
            source = config.type
        return cls(settings.changefeed, source, settings.sink.topic, tuple(settings.sink.brokers))

    def record(self) -> dict[str, Any]:
        """The fields a checkpoint file carries."""
        return {"changefeed": self.changefeed, "source": self.source, "sink": {"topic": self.topic, "brokers": list(self.brokers)}}

    def differences(self, stored: dict[str, Any]) -> list[str]:
        """How a stored owner record differs from this owner: ``key: stored X, configured Y``.

        Broker lists that share an address are one cluster (a broker added to or
        removed from the list is not another cluster)."""
        out = []
        if stored.get("changefeed") != self.changefeed:
            out.append(f"changefeed: stored {stored.get('changefeed')!r}, configured {self.changefeed!r}")
        if stored.get("source") != self.source:
            out.append(f"source: stored {stored.get('source')!r}, configured {self.source!r}")
        sink = stored.get("sink") if isinstance(stored.get("sink"), dict) else {}
        if sink.get("topic") != self.topic:
            out.append(f"sink topic: stored {sink.get('topic')!r}, configured {self.topic!r}")
        brokers = sink.get("brokers")
        stored_brokers = {str(b).lower() for b in brokers} if isinstance(brokers, list) else set()
        if not stored_brokers & {b.lower() for b in self.brokers}:
            out.append(f"sink brokers: stored {','.join(brokers or [])!r}, configured {','.join(self.brokers)!r}")
        return out
