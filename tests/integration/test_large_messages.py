"""Oversized rows through the real pipeline and broker: the topic's max.message.bytes
sets the limit, and each large-message-handle-option does what it says."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest

from cdcsink.config import Settings
from cdcsink.devtools.readback import read_back
from cdcsink.codec.common.large import read_claim_check
from cdcsink.errors import MessageTooLargeError
from cdcsink.pipeline import Pipeline
from tests.kafka_input import create_topic
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]
COLUMNS = {"id": "int", "note": "text"}


def rows(path, notes: list[str]) -> None:
    lines = [
        {"kind": "row", "schema": "s", "table": "t", "commit_ts": 10 + i, "op": "insert", "pk": ["id"], "columns": COLUMNS,
         "after": {"id": i, "note": note}}
        for i, note in enumerate(notes)
    ]
    lines.append({"kind": "resolved", "commit_ts": 100})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


async def small_topic(bootstrap: str, topic: str) -> None:
    await create_topic(bootstrap, topic, 1, {"max.message.bytes": "1200"})


def settings(bootstrap, tmp_path, topic, option):
    extra = f"&large-message-handle-option={option}"
    if option == "claim-check":
        extra += f"&claim-check-storage-uri=file://{tmp_path}/claims"
    return Settings(
        changefeed="large",
        source={"type": "file", "path": str(tmp_path / "events.ndjson")},
        sink={"uri": with_client(f"kafka://{bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true{extra}")},
        checkpoint={"store": f"file://{tmp_path}/cp.json"},
    )


@pytest.mark.parametrize("option", ["handle-key-only", "claim-check"])
async def test_an_oversized_row_is_sent_reduced_and_the_rest_whole(kafka_bootstrap, tmp_path, unique, option):
    topic = f"large-{option}-{unique}"
    await small_topic(kafka_bootstrap, topic)
    rows(tmp_path / "events.ndjson", ["small", "z" * 3000, "small again"])
    pipeline = Pipeline(settings(kafka_bootstrap, tmp_path, topic, option))
    result = await asyncio.wait_for(pipeline.run(), 30)
    assert result.rows == 3 and result.checkpoint_ts == 100
    count = pipeline.metrics.registry.get_sample_value
    assert count("cdcsink_large_messages_total", {"changefeed": "large", "handling": option}) == 1
    records = (await read_back(kafka_bootstrap, {(topic, 0): 4}, idle_timeout=2))[(topic, 0)]
    messages = [orjson.loads(r.value) for r in records if b"TIDB_WATERMARK" not in r.value]
    assert [m["data"][0]["id"] for m in messages] == ["0", "1", "2"]  # order kept
    assert messages[0]["data"][0]["note"] == "small" and messages[2]["data"][0]["note"] == "small again"
    big = messages[1]
    assert big["data"] == [{"id": "1"}]
    assert big["_tidb"].get("onlyHandleKey") is (True if option == "handle-key-only" else None)
    assert all(len(r.value) <= 1200 for r in records)
    if option == "claim-check":
        _, whole = read_claim_check(big["_tidb"]["claimCheckLocation"])
        assert orjson.loads(whole)["data"] == [{"id": "1", "note": "z" * 3000}]


async def test_without_handling_an_oversized_row_stops_the_run_before_it(kafka_bootstrap, tmp_path, unique):
    topic = f"large-none-{unique}"
    await small_topic(kafka_bootstrap, topic)
    rows(tmp_path / "events.ndjson", ["small", "z" * 3000])
    with pytest.raises(MessageTooLargeError) as info:
        await asyncio.wait_for(Pipeline(settings(kafka_bootstrap, tmp_path, topic, "none")).run(), 30)
    assert f"topic {topic} partition 0" in str(info.value) and "s.t commit_ts=11" in str(info.value)
    cp = tmp_path / "cp.json"
    assert not cp.exists() or json.loads(cp.read_text())["checkpoint_ts"] < 11


async def test_the_daemon_exits_1_with_one_line_for_an_oversized_row_and_does_not_restart(kafka_bootstrap, tmp_path, unique):
    import os
    import subprocess
    import sys
    from pathlib import Path

    topic = f"large-exit-{unique}"
    await small_topic(kafka_bootstrap, topic)
    rows(tmp_path / "events.ndjson", ["small", "z" * 3000])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        CDCSINK_SOURCE__PATH=str(tmp_path / "events.ndjson"),
        CDCSINK_SINK__URI=with_client(f"kafka://{kafka_bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true"),
        CDCSINK_CHECKPOINT__STORE=f"file://{tmp_path}/cp.json",
        CDCSINK_HTTP__ENABLED="false",
        CDCSINK_LOG__FORMAT="json",
    )
    run = subprocess.run([sys.executable, "-m", "cdcsink", "run"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr[-3000:]
    record = json.loads(run.stderr.strip().splitlines()[-1])  # the reason, as a JSON log line too
    last = record["event"]
    assert record["exit_code"] == 1 and record["level"] == "critical"
    assert f"topic {topic} partition 0" in last and "s.t commit_ts=11" in last
    assert "exceeds max-message-bytes" in last and "bytes" in last
    assert "restarting from the checkpoint" not in run.stderr
