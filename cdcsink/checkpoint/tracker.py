"""The checkpoint tracker: which resolved ts has every earlier event acknowledged.

Input is cut into *segments* by resolved events: a segment holds the events
after one resolved event up to and including the next. Each segment counts
its events not yet acknowledged. The checkpoint is the resolved ts (and
source position) of the newest segment such that it and every segment before
it are closed and fully acknowledged. Events are only counted and
uncounted; the tracker never looks at them, so the hot path pays one integer
increment per event and one decrement per acknowledged run.
"""

from __future__ import annotations

from collections import deque
from typing import Any


class Segment:
    __slots__ = ("pending", "closed", "resolved_ts", "position", "commit_time_ms", "read_at", "is_event")

    def __init__(self) -> None:
        self.pending = 0
        self.closed = False
        self.resolved_ts: int | None = None
        self.position: dict[str, Any] | None = None
        self.commit_time_ms: int | None = None
        #: When its resolved event was read (monotonic clock; 0.0: unknown).
        self.read_at = 0.0
        #: False for the end-of-input segment, which no resolved event closed.
        self.is_event = True


class CheckpointTracker:
    def __init__(self, checkpoint_ts: int = 0, position: dict[str, Any] | None = None) -> None:
        self.checkpoint_ts = checkpoint_ts
        self.position = position
        #: Of the checkpoint's resolved event: its commit_time_ms and when it was
        #: read (monotonic; 0.0 while no resolved event of this run is covered).
        self.commit_time_ms: int | None = None
        self.read_at = 0.0
        #: The latest resolved ts read from the input (acked or not).
        self.resolved_ts = checkpoint_ts
        #: Resolved events the checkpoint has passed.
        self.resolved_done = 0
        self.current = Segment()
        self._segments: deque[Segment] = deque((self.current,))

    @property
    def pending_segments(self) -> int:
        return len(self._segments)

    def resolve(
        self,
        ts: int,
        position: dict[str, Any] | None,
        commit_time_ms: int | None = None,
        *,
        read_at: float = 0.0,
        is_event: bool = True,
    ) -> None:
        """Close the current segment at resolved ``ts`` / source ``position``
        (``read_at``: when the resolved event was read, monotonic clock)."""
        segment = self.current
        segment.is_event = is_event
        segment.closed = True
        segment.resolved_ts = ts
        segment.position = position
        segment.commit_time_ms = commit_time_ms
        segment.read_at = read_at
        self.resolved_ts = ts
        self.current = Segment()
        self._segments.append(self.current)
        self._advance()

    def end_of_input(self, position: dict[str, Any] | None) -> None:
        """Close the input: once everything is acked the position moves to its end,
        while the checkpoint ts stays at the last resolved ts."""
        self.resolve(self.resolved_ts, position, None, is_event=False)

    def ack(self, segment: Segment, count: int = 1) -> None:
        segment.pending -= count
        if segment.pending == 0 and segment.closed and segment is self._segments[0]:
            self._advance()

    def _advance(self) -> None:
        # The open current segment is always last and never closed, so the loop stops there.
        segments = self._segments
        while segments[0].closed and segments[0].pending == 0:
            done = segments.popleft()
            self.checkpoint_ts = done.resolved_ts  # type: ignore[assignment]
            self.position = done.position
            if done.is_event:
                # A segment no resolved event closed keeps the ts, and so the times, of the one before.
                self.commit_time_ms = done.commit_time_ms
                self.read_at = done.read_at
                self.resolved_done += 1
