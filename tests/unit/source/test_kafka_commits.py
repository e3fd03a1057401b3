"""The kafka source's offset commits around a rebalance: a committed offset never goes back.

The checkpointer takes a position, then sends the watermark and waits for its
acknowledgements before it commits; a rebalance can run in between. The revoke
commits the later, settled position first; the checkpoint's older one must not
follow it (the group's offset would move back, and the partition's next reader,
this instance too, would send its events again).
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from aiokafka.structs import TopicPartition

from cdcsink.checkpoint.store import Checkpoint
from cdcsink.events import RowEvent
from cdcsink.source.config import SourceConfig
from cdcsink.source.kafka import KafkaSource
from cdcsink.source.kafka.rebalance import PartitionIntake

P, Q = ("in", 0), ("in", 1)


class Broker:
    """The group's committed offsets as the consumer's commits leave them, in arrival order.
    While ``gate`` is set, a commit waits for it before it arrives."""

    def __init__(self) -> None:
        self.commits: list[dict[tuple[str, int], int]] = []
        self.gate: asyncio.Event | None = None

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.commits.append({(tp.topic, tp.partition): o for tp, o in offsets.items()})

    async def committed(self, tp: TopicPartition) -> None:
        return None  # the read-back of assigned partitions finds nothing

    def went_back(self) -> list[str]:
        last: dict[tuple[str, int], int] = {}
        back = []
        for commit in self.commits:
            for key, offset in commit.items():
                if offset < last.get(key, 0):
                    back.append(f"{key} from {last[key]} to {offset}")
                last[key] = offset
        return back

    def last(self, key: tuple[str, int]) -> int:
        return [c[key] for c in self.commits if key in c][-1]


class Acked:
    """Everything is acknowledged as soon as it is sent: the acked position is the last cut's."""

    metrics: Any = None
    dead_letter = None

    def __init__(self) -> None:
        self.acked_position: dict[Any, int] | None = None

    async def process(self, events: Sequence[Any], read_at: float = 0.0) -> None:
        pass

    def resolve(self, position: dict[Any, int] | None) -> None:
        self.acked_position = position

    async def wait_acked(self, timeout: float, busy: Any = None) -> bool:
        return True


def row(offset: int) -> RowEvent:
    return RowEvent("s", "t", offset, "insert", ["id"], {"id": "int"}, None, {"id": offset}, None, offset)


class Daemon:
    """A kafka source's commit path as the pipeline drives it, on a fake consumer."""

    def __init__(self) -> None:
        self.source = KafkaSource(SourceConfig(type="kafka", bootstrap="b:9092", topics="in", group="g"))
        self.broker = Broker()
        self.source.consumer = self.broker  # type: ignore[assignment]
        self.out = Acked()
        self.intake = PartitionIntake(self.source, self.out)  # type: ignore[arg-type]
        self.source.handler = self.intake
        self.store = self.source.checkpoint_store(lambda: None)  # type: ignore[arg-type,return-value]

    def read(self, key: tuple[str, int], start: int, end: int) -> None:
        """Records ``start..end-1`` of ``key`` sent and acknowledged, cut at ``end``."""
        merger = self.intake.merger
        merger.feed(key, [row(o) for o in range(start, end)], end)
        self.out.resolve(merger.snapshot())

    def checkpoint(self) -> Checkpoint:
        """The checkpoint the checkpointer takes now (and commits after the watermark is acked)."""
        return Checkpoint(0, self.out.acked_position)

    async def rebalance(self, keys: set[tuple[str, int]]) -> None:
        await self.source._revoked(set(self.source.assigned))
        self.source._assigned(keys)


async def test_a_checkpoint_taken_before_a_rebalance_is_not_committed_after_it():
    d = Daemon()
    d.source._assigned({P, Q})
    d.read(P, 0, 100)
    assert await d.store.save(d.checkpoint())
    d.read(P, 100, 200)
    stale = d.checkpoint()  # the checkpointer sends the watermark of this one...
    d.read(P, 200, 300)
    await d.rebalance({P})  # ...while the group rebalances and P comes back here
    assert d.broker.last(P) == 300  # the revoke settled P at its acknowledged end
    await d.store.save(stale)
    assert d.broker.went_back() == []
    assert d.broker.last(P) == 300  # the new assignment reads P on from 300, and so would any owner
    d.read(P, 300, 350)
    assert await d.store.save(d.checkpoint())
    assert d.broker.last(P) == 350  # the new assignment's own positions are committed


async def test_a_checkpoint_commit_arriving_after_the_revokes_commit_does_not_move_the_offset_back():
    d = Daemon()
    d.source._assigned({P, Q})
    d.read(P, 0, 100)
    d.read(Q, 0, 100)
    stale = d.checkpoint()
    d.read(P, 100, 200)
    d.broker.gate = asyncio.Event()  # commits are slow to get through
    revoke = asyncio.create_task(d.source._revoked({P, Q}))
    await asyncio.sleep(0)  # the revoke's commit is under way...
    checkpoint = asyncio.create_task(d.store.save(stale))  # ...when the older checkpoint's starts
    await asyncio.sleep(0)
    d.broker.gate.set()
    await asyncio.gather(revoke, checkpoint)
    assert d.broker.went_back() == []
    assert d.broker.last(P) == 200 and d.broker.last(Q) == 100


async def test_plain_offsets_are_the_current_assignments_and_an_older_offset_is_not_committed():
    d = Daemon()
    d.source._assigned({P})
    assert await d.source.commit({P: 50})
    assert await d.source.commit({P: 40})
    assert await d.source.commit({P: 50})
    assert d.broker.commits == [{P: 50}]
