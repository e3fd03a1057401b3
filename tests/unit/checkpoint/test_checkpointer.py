"""Orders the pipeline keeps: the watermark acknowledged before the store is written; clients closed DDL producer first."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from cdcsink.checkpoint.store import Checkpoint
from cdcsink.errors import DeliveryError
from cdcsink.metrics import Metrics
from cdcsink.pipeline import Checkpointer


class Sink:
    """Watermark broadcasts wait for ``acked`` (Kafka's acknowledgements), or fail."""

    def __init__(self) -> None:
        self.acked = asyncio.Event()
        self.sent: list[int] = []
        self.fail: BaseException | None = None

    async def broadcast_watermark(self, ts: int) -> None:
        self.sent.append(ts)
        await self.acked.wait()
        if self.fail is not None:
            raise self.fail


class Store:
    description = "memory"

    def __init__(self) -> None:
        self.saved: list[Checkpoint] = []

    async def save(self, checkpoint: Checkpoint) -> bool:
        self.saved.append(checkpoint)
        return True


def tracker(ts: int, offset: int) -> SimpleNamespace:
    return SimpleNamespace(checkpoint_ts=ts, position={"path": "f", "offset": offset, "line": 1}, commit_time_ms=None, read_at=0.0, resolved_done=1)


async def test_the_store_is_written_only_after_the_watermark_is_acknowledged():
    sink, store = Sink(), Store()
    checkpointer = Checkpointer(tracker(5, 10), sink, store, None, Metrics())  # type: ignore[arg-type]
    advancing = asyncio.create_task(checkpointer.advance())
    await asyncio.sleep(0.05)
    assert sink.sent == [5] and store.saved == []  # sent, not yet acknowledged: nothing stored
    sink.acked.set()
    await advancing
    assert store.saved == [Checkpoint(5, {"path": "f", "offset": 10, "line": 1})]


async def test_a_failed_watermark_leaves_the_store_as_it_was():
    sink, store = Sink(), Store()
    sink.fail = DeliveryError("watermark 5 broadcast failed", RuntimeError("down"))
    sink.acked.set()
    checkpointer = Checkpointer(tracker(5, 10), sink, store, Checkpoint(3, None), Metrics())  # type: ignore[arg-type]
    with pytest.raises(DeliveryError):
        await checkpointer.advance()
    assert store.saved == [] and checkpointer.written_ts == 3


async def test_a_position_that_moves_without_the_ts_is_stored_without_a_second_watermark():
    sink, store = Sink(), Store()
    sink.acked.set()
    state = tracker(5, 10)
    checkpointer = Checkpointer(state, sink, store, None, Metrics())  # type: ignore[arg-type]
    await checkpointer.advance()
    state.position = {"path": "f", "offset": 20, "line": 2}  # end of input: the position moves, the ts stays
    await checkpointer.advance()
    assert sink.sent == [5]
    assert [c.position["offset"] for c in store.saved] == [10, 20]  # type: ignore[index]


async def test_clients_close_in_order_ddl_producer_dml_producer_admin_even_when_one_fails():
    from cdcsink.pipeline import Clients

    closed: list[str] = []

    class Client:
        def __init__(self, name: str, fails: bool = False) -> None:
            self.name, self.fails = name, fails

        async def close(self) -> None:
            closed.append(self.name)
            if self.fails:
                raise RuntimeError("already gone")

    clients = Clients()
    clients.admin, clients.producer, clients.sync_producer = Client("admin"), Client("dml", fails=True), Client("ddl")  # type: ignore[assignment]
    await clients.close()
    assert closed == ["ddl", "dml", "admin"]
