"""`make run`'s demo: the bundled sample events through a fresh dev broker, and
what Kafka holds printed back (README's quick start promises this output)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from cdcsink.devtools.run import demo

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.broker  # its own dev broker, as `make run` starts one


async def test_make_run_prints_topics_counts_the_checkpoint_and_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the sample config names its input relative to the project, as `make run` runs it
    assert await demo("config/sample.yaml", tmp_path / "run") == 0
    out = capsys.readouterr().out
    events = [orjson.loads(line) for line in (ROOT / "config/sample-events.ndjson").read_bytes().splitlines() if line.strip()]
    rows = sum(1 for e in events if e["kind"] == "row")
    ddls = sum(1 for e in events if e["kind"] == "ddl")
    last_resolved = max(e["commit_ts"] for e in events if e["kind"] == "resolved")
    assert "topic" in out and "messages acked" in out and "read back" in out
    table = [line.split() for line in out.splitlines() if line.startswith(("shop_", "inventory", "cdc-default"))]
    assert table and all(len(cols) == 4 and cols[2] == cols[3] for cols in table)  # every acked message read back
    assert f"rows {rows}, DDLs {ddls}" in out and f"final checkpoint_ts {last_resolved}" in out
    stored = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert stored["checkpoint_ts"] == last_resolved
    assert "first message of" in out
