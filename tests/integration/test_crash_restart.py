"""Stop the daemon mid-stream (SIGTERM, or kill -9), start it again: every row
arrives, per-key order holds, replays only after the checkpoint."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdcsink.devtools.readback import read_back
from tests.workload import Seen, check_delivery, decode_canal, generate

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


def daemon(bootstrap: str, path: Path, checkpoint: Path, topic: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CDCSINK_SOURCE__PATH=str(path),
        CDCSINK_SINK__URI=f"kafka://{bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=3",
        CDCSINK_SINK__DISPATCHERS=json.dumps([{"matcher": ["*.*"], "topic": topic + "_{table}", "partition": "index-value"}]),
        CDCSINK_CHECKPOINT__STORE=f"file://{checkpoint}",
        CDCSINK_CHECKPOINT__INTERVAL="100ms",
        CDCSINK_HTTP__ENABLED="false",
    )
    return subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], env=env, stderr=subprocess.PIPE)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_stop_mid_stream_and_start_again(kafka_bootstrap, unique, tmp_path, how):
    w = generate(60_000, tables=4, keys=300, resolved_every=500, ddl_every=9_000)
    path = w.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    topic = f"crash-{unique}"
    seen_checkpoints: list[int] = []

    first = daemon(kafka_bootstrap, path, checkpoint, topic)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if checkpoint.exists():
            ts = json.loads(checkpoint.read_text())["checkpoint_ts"]
            if not seen_checkpoints or seen_checkpoints[-1] != ts:
                seen_checkpoints.append(ts)
            if ts > 1000 and len(seen_checkpoints) >= 2:
                break
        time.sleep(0.02)
    if first.poll() is None:
        first.send_signal(how)
    code = first.wait(timeout=60)
    assert code == (0 if how == signal.SIGTERM else -signal.SIGKILL) or first.returncode == 0, first.stderr.read().decode()
    stopped_at = json.loads(checkpoint.read_text())["checkpoint_ts"]
    assert stopped_at < w.last_resolved or how == signal.SIGTERM

    second = daemon(kafka_bootstrap, path, checkpoint, topic)
    assert second.wait(timeout=180) == 0, second.stderr.read().decode()
    assert json.loads(checkpoint.read_text())["checkpoint_ts"] == w.last_resolved
    assert seen_checkpoints == sorted(seen_checkpoints)  # the stored checkpoint never went back

    expected = {(f"{topic}_t{t}", p): 10**9 for t in range(4) for p in range(3)}
    records = asyncio.run(read_back(kafka_bootstrap, expected, idle_timeout=2.0))
    seen = Seen({tp: decode_canal(recs) for tp, recs in records.items() if recs})
    check_delivery(w, seen, allow_replays=True)
