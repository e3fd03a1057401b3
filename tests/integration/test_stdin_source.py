"""The stdin source, through the real CLI, into the broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdcsink.devtools.readback import read_back
from tests.workload import Seen, check_delivery, decode_canal, generate

pytestmark = pytest.mark.broker


async def test_events_piped_on_stdin_arrive_in_order(kafka_bootstrap, unique, tmp_path):
    w = generate(500, tables=2, keys=20, resolved_every=25)
    topic = f"stdin-{unique}"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "CDCSINK_SOURCE__TYPE": "stdin",
        "CDCSINK_SINK__URI": f"kafka://{kafka_bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=1",
        "CDCSINK_CHECKPOINT__STORE": f"file://{tmp_path}/cp.json",
    }
    env.pop("CDCSINK_CONFIG", None)
    data = b"".join(line + b"\n" for line in w.lines)
    proc = subprocess.run([sys.executable, "-m", "cdcsink", "run"], input=data, capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads((tmp_path / "cp.json").read_text())["checkpoint_ts"] == w.last_resolved
    # Watermarks are interleaved (how many depends on timing): read until the partition is idle.
    records = await read_back(kafka_bootstrap, {(topic, 0): 10**9}, idle_timeout=1.5)
    seen = Seen({(topic, 0): decode_canal(records[(topic, 0)])})
    check_delivery(w, seen)
