"""The checkpoint lag end to end, on input shaped like the README's example:
rows with commit_time_ms, resolved events without. The lag is then counted
from when the checkpoint's resolved event was read, so it is a small number
after a healthy run, not NaN, and not the time since the daemon started."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from cdcsink.config import Settings
from cdcsink.metrics import Metrics
from cdcsink.pipeline import Pipeline
from tests.workload import generate

pytestmark = pytest.mark.broker


async def test_resolved_events_without_commit_time_give_a_lag_from_when_they_were_read(kafka_bootstrap, tmp_path, unique):
    w = generate(200, tables=2, resolved_every=20)
    lines = []
    for line in w.lines:
        event = orjson.loads(line)
        if event["kind"] == "resolved":
            del event["commit_time_ms"]
        lines.append(orjson.dumps(event))
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    settings = Settings(
        changefeed="lag",
        source={"type": "file", "path": str(path)},
        sink={"uri": f"kafka://{kafka_bootstrap}/lag-{unique}?protocol=canal-json&partition-num=1"},
        checkpoint={"store": f"file://{tmp_path}/cp.json"},
    )
    metrics = Metrics("lag")
    metrics.checkpoint_time = time.time() - 3600  # a daemon that started an hour ago
    result = await asyncio.wait_for(Pipeline(settings, metrics=metrics).run(), 60)
    assert result.checkpoint_ts == w.last_resolved
    assert 0 <= metrics.checkpoint_lag_seconds() < 60
