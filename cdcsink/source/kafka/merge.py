"""Merging many input partitions into the one ordered stream the sink takes.

A partitioned source (Kafka) delivers each input partition in order, but the
partitions interleave freely. :class:`PartitionMerger` turns decoded runs of
events per partition into a single list for the sink while keeping three
promises:

- **Resolved ts.** A resolved event speaks for its own partition only. The
  global resolved ts is the minimum over the assigned partitions' latest
  resolved ts (a partition that never sent one holds it back); each time it
  rises, a :class:`ResolvedEvent` carrying it is put into the stream. Only
  while this instance holds *every* input partition: when instances share
  the input, none knows the others' resolved ts, so none may vouch for one
  (watermarks pause; offsets are still committed).
- **DDL.** An upstream may write a DDL into every partition that carries the
  table's rows. In each partition it is a barrier: the partition stops at its
  copy (its later events are held back, and the caller pauses fetching it)
  until every other assigned partition has either reached a DDL at the same or
  a later commit_ts or promised (resolved ts) that it has nothing at or before
  it. The DDL is then emitted once; copies with the same schema, table,
  commit_ts and query are dropped. The smallest waiting DDL can always go
  once the others move on, so partitions cannot wait on each other forever.
  A DDL with commit_ts 0 (a protocol that carries no commit ts) is no
  barrier: it goes out in its partition's order.
- **Offsets.** :meth:`snapshot` gives, per partition, the offset after the
  last event put into the stream (never past a held-back event). A position
  is a snapshot taken where the stream was cut, so once the checkpoint
  tracker says everything before a cut is acknowledged, committing its
  snapshot commits nothing unacknowledged. A snapshot names the assignment
  it was taken in (:class:`Offsets`): it is not committed after that ends.

Pure logic, no I/O: the pipeline feeds it and sends what it returns.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Sequence

from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent

InputPartition = tuple[str, int]
DDLKey = tuple[str, "str | None", int, str]


class Offsets(dict[InputPartition, int]):
    """Next offset to read per input partition, as the merger had them in assignment
    ``epoch``. Offsets read in an assignment may be committed only while it lasts:
    the revoke that ends it settles and commits them, and the next owner (maybe this
    instance again) reads on from there, so an older position committed later would
    move the group's offset back and have what was delivered read and sent again."""

    __slots__ = ("epoch",)

    def __init__(self, offsets: dict[InputPartition, int], epoch: int) -> None:
        super().__init__(offsets)
        self.epoch = epoch

    def only(self, keys: set[InputPartition]) -> "Offsets":
        """The offsets of ``keys`` (those present), of the same assignment."""
        return Offsets({key: offset for key, offset in self.items() if key in keys}, self.epoch)


class PartitionState:
    """What the merger knows about one assigned input partition."""

    __slots__ = ("key", "epoch", "resolved_ts", "resolved_time_ms", "decode_resolved", "waiting", "backlog")

    def __init__(self, key: InputPartition, epoch: int) -> None:
        self.key = key
        self.epoch = epoch
        #: The latest resolved ts this partition put into the stream.
        self.resolved_ts = 0
        self.resolved_time_ms: int | None = None
        #: The decoder's ordering state for this partition (it runs ahead of the stream while held back).
        self.decode_resolved = 0
        #: The DDL this partition is stopped at, if any.
        self.waiting: DDLEvent | None = None
        #: Runs received while stopped: (events, index of the first not yet taken, offset after the run).
        self.backlog: deque[tuple[Sequence[Any], int, int]] = deque()

    @property
    def held(self) -> bool:
        return self.waiting is not None or bool(self.backlog)


def ddl_key(event: DDLEvent) -> DDLKey:
    return (event.schema, event.table, event.commit_ts, event.query)


class PartitionMerger:
    def __init__(
        self,
        pause: Callable[[InputPartition], None] = lambda key: None,
        resume: Callable[[InputPartition], None] = lambda key: None,
        covers_all: Callable[[], bool] = lambda: True,
    ) -> None:
        self.parts: dict[InputPartition, PartitionState] = {}
        #: Next offset to read per partition, counting only what went into the stream.
        self.offsets: dict[InputPartition, int] = {}
        #: The assignment the partitions are of (see :class:`Offsets`).
        self.epoch = 0
        self.resolved_ts = 0
        self.resolved_time_ms: int | None = None
        #: DDLs emitted, until the global resolved ts passes them (no copy can follow then).
        self.emitted: dict[DDLKey, int] = {}
        self.copies_dropped = 0
        #: Set when partitions went away: a DDL waiting on them may be free to go.
        self.pending_release = False
        self._pause = pause
        self._resume = resume
        #: Whether the assigned partitions are all the input's partitions.
        self._covers_all = covers_all

    # -- assignment -----------------------------------------------------------

    def assign(self, keys: set[InputPartition], epoch: int) -> None:
        """New partitions, read from their committed offsets (their resolved ts is
        unknown until they send one, so they hold the global one where it is)."""
        self.epoch = epoch
        for key in keys:
            self.parts[key] = PartitionState(key, epoch)

    def seed(self, resolved: dict[InputPartition, tuple[int, int | None]], epoch: int) -> bool:
        """Newly assigned partitions' resolved ts as read back from before their committed
        offsets (see ``KafkaSource.last_resolved``), where nothing newer arrived since.
        True when one moved: :meth:`settle` may now let a DDL or the resolved ts go."""
        moved = False
        for key, (ts, time_ms) in resolved.items():
            part = self.parts.get(key)
            if part is not None and part.epoch == epoch and ts > part.resolved_ts:
                part.resolved_ts, part.resolved_time_ms = ts, time_ms
                moved = True
        return moved

    def settle(self, out: list[Any]) -> None:
        """The global resolved ts and waiting DDLs brought up to date (after :meth:`seed`)."""
        if self.parts:
            self._resolve(out)
        self.release(out)

    def revoke(self, keys: set[InputPartition]) -> None:
        """Forget the partitions' state and held-back events (they were never in the
        stream, so their offsets were not passed). Offsets stay until :meth:`forget`."""
        for key in keys:
            self.parts.pop(key, None)

    def forget(self, keys: set[InputPartition]) -> None:
        for key in keys:
            if key not in self.parts:
                self.offsets.pop(key, None)

    def snapshot(self) -> Offsets:
        return Offsets(self.offsets, self.epoch)

    # -- events ---------------------------------------------------------------

    def feed(self, key: InputPartition, events: Sequence[Any], end_offset: int) -> list[Any]:
        """Take a run of ``key``'s decoded events (each ``event.line`` is its offset;
        ``end_offset`` is the offset after the run). Returns the events to send now."""
        part = self.parts[key]
        out: list[Any] = []
        if part.held:
            part.backlog.append((events, 0, end_offset))
            return out
        if self._take(part, events, 0, end_offset, out):
            self._pause(key)
        self.release(out)
        return out

    def release(self, out: list[Any]) -> None:
        """Emit every waiting DDL whose turn has come, and what its partitions held back."""
        parts = self.parts
        while True:
            waiting = [p for p in parts.values() if p.waiting is not None]
            if not waiting:
                return
            first = min(waiting, key=lambda p: p.waiting.commit_ts)  # type: ignore[union-attr]
            ddl = first.waiting
            assert ddl is not None
            ts = ddl.commit_ts
            for p in parts.values():
                if p.waiting is not None:
                    if p.waiting.commit_ts < ts:
                        return
                elif p.resolved_ts < ts:
                    return
            key = ddl_key(ddl)
            out.append(ddl)
            self.emitted[key] = ts
            for p in waiting:
                if p.waiting is not None and ddl_key(p.waiting) == key:
                    self.offsets[p.key] = p.waiting.line + 1
                    p.waiting = None
                    if p is not first:
                        self.copies_dropped += 1
                    self._drain(p, out)

    def flush(self, out: list[Any]) -> None:
        """At the end of a finite read (``cdcsink consume`` without follow): every
        waiting DDL, once, in commit-ts order, each followed by what its partitions
        held behind it; the copies other partitions never reached are not waited for."""
        self.release(out)
        while True:
            waiting = [p for p in self.parts.values() if p.waiting is not None]
            if not waiting:
                return
            first = min(waiting, key=lambda p: p.waiting.commit_ts)  # type: ignore[union-attr]
            ddl = first.waiting
            assert ddl is not None
            key = ddl_key(ddl)
            if key not in self.emitted:
                out.append(ddl)
                self.emitted[key] = ddl.commit_ts
            for p in waiting:
                if p.waiting is not None and ddl_key(p.waiting) == key:
                    self.offsets[p.key] = p.waiting.line + 1
                    p.waiting = None
                    self._drain(p, out)

    def _drain(self, part: PartitionState, out: list[Any]) -> None:
        backlog = part.backlog
        while backlog and part.waiting is None:
            events, start, end = backlog.popleft()
            self._take(part, events, start, end, out)
        if not part.held:
            self._resume(part.key)

    def _take(self, part: PartitionState, events: Sequence[Any], start: int, end_offset: int, out: list[Any]) -> bool:
        """Put ``events[start:]`` into ``out`` up to a DDL that must wait; True when stopped there."""
        key = part.key
        append = out.append
        for i in range(start, len(events)):
            event = events[i]
            kind = type(event)
            if kind is RowEvent:
                append(event)
            elif kind is ResolvedEvent:
                part.resolved_ts = event.commit_ts
                part.resolved_time_ms = event.commit_time_ms
                self.offsets[key] = event.line + 1
                self._resolve(out)
            elif event.commit_ts == 0:
                # A DDL without a commit ts (its protocol carries none: canal-json without the
                # TiDB extension, which writes DDL to one partition) cannot be ordered against
                # other partitions: it goes out in its partition's order, and is never a copy.
                append(event)
            else:
                ddl_id = ddl_key(event)
                if ddl_id in self.emitted:
                    self.copies_dropped += 1
                    continue
                self.offsets[key] = event.line
                part.waiting = event
                if i + 1 < len(events):
                    part.backlog.appendleft((events, i + 1, end_offset))
                elif end_offset > event.line + 1:
                    part.backlog.appendleft(((), 0, end_offset))
                return True
        self.offsets[key] = end_offset
        return False

    def _resolve(self, out: list[Any]) -> None:
        lowest = min(self.parts.values(), key=lambda p: p.resolved_ts)
        ts = lowest.resolved_ts
        if self.emitted:
            # No assigned partition can carry a copy at or before ts any more.
            for key in [k for k, at in self.emitted.items() if at <= ts]:
                del self.emitted[key]
        if ts <= self.resolved_ts or not self._covers_all():
            return
        self.resolved_ts = ts
        self.resolved_time_ms = lowest.resolved_time_ms
        out.append(ResolvedEvent(ts, lowest.resolved_time_ms, self.snapshot()))
