"""Metrics that alerts depend on: every known label value has a series from the
start, and the checkpoint lag is a number that grows while the checkpoint stalls,
with or without commit_time_ms in the input."""

from __future__ import annotations

import math

from prometheus_client import generate_latest

from cdcsink.checkpoint.tracker import CheckpointTracker
from cdcsink.decode import REASON_CODES, Decoder, reason_code
from cdcsink.errors import InvalidEventError
from cdcsink.kafka.topics import TopicManager
from cdcsink.metrics import Metrics
from cdcsink.pipeline import Checkpointer


def samples(metrics: Metrics) -> dict[str, float]:
    """``name{labels}`` -> value, as Prometheus scrapes it."""
    out = {}
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_every_known_label_value_has_a_series_at_zero_from_the_start():
    values = samples(Metrics("cf"))
    for kind in ("row", "ddl", "resolved"):
        assert values[f'cdcsink_events_received_total{{changefeed="cf",kind="{kind}"}}'] == 0
        assert values[f'cdcsink_events_acked_total{{changefeed="cf",kind="{kind}"}}'] == 0
    for reason in REASON_CODES:
        assert values[f'cdcsink_invalid_events_total{{changefeed="cf",reason="{reason}"}}'] == 0
    for handling in ("handle-key-only", "claim-check"):
        assert values[f'cdcsink_large_messages_total{{changefeed="cf",handling="{handling}"}}'] == 0
    for stage in ("source", "buffer"):
        assert values[f'cdcsink_pipeline_queue_depth{{changefeed="cf",stage="{stage}"}}'] == 0
    for gauge in ("cdcsink_checkpoint_ts", "cdcsink_resolved_ts", "cdcsink_inflight_messages",
                  "cdcsink_producer_inflight_requests", "cdcsink_checkpoint_lag_seconds"):
        assert f'{gauge}{{changefeed="cf"}}' in values, gauge


def test_the_reason_codes_are_every_code_an_invalid_line_gets():
    decoder = Decoder()
    lines = [b"{", b"[]", b'{"kind":"x","commit_ts":1}', b'{"kind":"resolved"}',
             b'{"kind":"resolved","commit_ts":5}', b'{"kind":"resolved","commit_ts":4}']
    codes = set()
    for i, line in enumerate(lines):
        try:
            decoder.decode(line, "f", i + 1)
        except InvalidEventError as error:
            codes.add(reason_code(error.reason))
    assert codes <= set(REASON_CODES) and {"json", "not_object", "kind", "field", "order"} <= codes


class Admin:
    """Topics that exist already; others are created."""

    def __init__(self) -> None:
        self.counts = {"default": 3}

    async def partition_count(self, topic: str) -> int | None:
        return self.counts.get(topic)

    async def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        self.counts[topic] = partitions


async def test_a_topic_has_its_series_as_soon_as_it_is_known_or_created():
    metrics = Metrics("cf")
    topics = TopicManager(Admin(), auto_create=True, partition_num=2, replication_factor=1)  # type: ignore[arg-type]
    topics.on_new_topic = metrics.topic_known
    await topics.partitions("default")
    await topics.partitions("created")
    values = samples(metrics)
    for topic in ("default", "created"):
        assert values[f'cdcsink_messages_sent_total{{changefeed="cf",topic="{topic}"}}'] == 0
        assert values[f'cdcsink_bytes_sent_total{{changefeed="cf",topic="{topic}"}}'] == 0


class Sink:
    async def broadcast_watermark(self, ts: int) -> None:
        pass


class Store:
    description = "memory"

    async def save(self, checkpoint) -> bool:
        return True


class Clock:
    """time.time and time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - 1_000_000.0


def lag(metrics: Metrics) -> float:
    return samples(metrics)['cdcsink_checkpoint_lag_seconds{changefeed="cf"}']


async def test_without_commit_time_the_lag_counts_from_when_the_resolved_event_was_read(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("cdcsink.metrics.time", clock)
    metrics = Metrics("cf")
    tracker = CheckpointTracker()
    checkpointer = Checkpointer(tracker, Sink(), Store(), None, metrics)  # type: ignore[arg-type]
    clock.now += 30
    assert lag(metrics) == 30  # no checkpoint yet: counted from the start, never NaN

    # The README's input: rows with commit_time_ms, resolved events without.
    tracker.resolve(10, {"offset": 100}, None, read_at=clock.monotonic())
    clock.now += 2  # acknowledged and written 2 s after the resolved event was read
    await checkpointer.advance()
    assert lag(metrics) == 2

    # The next resolved event is read, but its rows are never acknowledged: the lag grows.
    tracker.current.pending += 1
    tracker.resolve(20, {"offset": 200}, None, read_at=clock.monotonic())
    for _ in range(3):
        clock.now += 60
        await checkpointer.advance()
    assert lag(metrics) == 182
    assert not math.isnan(lag(metrics))


async def test_with_commit_time_the_lag_counts_from_it_and_carries_over_restarts(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("cdcsink.metrics.time", clock)
    metrics = Metrics("cf")
    tracker = CheckpointTracker()
    checkpointer = Checkpointer(tracker, Sink(), Store(), None, metrics)  # type: ignore[arg-type]
    tracker.resolve(10, {"offset": 100}, int((clock.now - 5) * 1000), read_at=clock.monotonic())
    await checkpointer.advance()
    assert lag(metrics) == 5
    # A restart: a new run's tracker and checkpointer, nothing resolved yet; the lag goes on.
    tracker = CheckpointTracker(10, {"offset": 100})
    checkpointer = Checkpointer(tracker, Sink(), Store(), None, metrics)  # type: ignore[arg-type]
    tracker.end_of_input({"offset": 150})
    clock.now += 100
    await checkpointer.advance()
    assert lag(metrics) == 105


def test_the_tracker_keeps_the_times_of_the_checkpoints_own_resolved_event():
    t = CheckpointTracker()
    t.resolve(1, {"offset": 1}, 1000, read_at=5.0)
    t.resolve(2, {"offset": 2}, None, read_at=7.0)  # a resolved event without commit_time_ms
    assert (t.checkpoint_ts, t.commit_time_ms, t.read_at) == (2, None, 7.0)
    t.end_of_input({"offset": 3})  # not a resolved event: the times stay those of ts 2
    assert (t.position, t.commit_time_ms, t.read_at) == ({"offset": 3}, None, 7.0)
