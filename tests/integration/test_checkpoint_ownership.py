"""A checkpoint belongs to the feed that wrote it: a second feed started from the
same directory gets its own, a feed pointed at another feed's checkpoint is
refused, and `cdcsink checkpoint reset` starts a feed over deliberately."""

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
ROOT = Path(__file__).resolve().parents[2]


def cdcsink(args: list[str], cwd: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(PYTHONPATH=str(ROOT), CDCSINK_HTTP__ENABLED="false", **env_vars)
    return subprocess.run([sys.executable, "-m", "cdcsink", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def feed_env(bootstrap: str, topic: str, path: str, **more: str) -> dict[str, str]:
    return {
        "CDCSINK_SOURCE__PATH": path,
        "CDCSINK_SINK__URI": f"kafka://{bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=1",
        **more,
    }


async def rows_in(bootstrap: str, topic: str) -> Seen:
    records = await read_back(bootstrap, {(topic, 0): 10**9}, idle_timeout=1.0)
    return Seen({(topic, 0): decode_canal(records[(topic, 0)])})


async def test_a_second_changefeed_started_from_the_same_directory_sends_its_whole_input(kafka_bootstrap, unique, tmp_path):
    state = tmp_path / "state"
    first, second = generate(200, tables=2, resolved_every=20), generate(150, tables=2, resolved_every=20, seed=11)
    first.write(tmp_path / "first.ndjson")
    second.write(tmp_path / "second.ndjson")
    run = cdcsink(["run"], tmp_path, XDG_STATE_HOME=str(state), **feed_env(kafka_bootstrap, f"first-{unique}", "first.ndjson"))
    assert run.returncode == 0, run.stderr[-3000:]
    run = cdcsink(
        ["run"], tmp_path, XDG_STATE_HOME=str(state), CDCSINK_CHANGEFEED="other",
        **feed_env(kafka_bootstrap, f"second-{unique}", "second.ndjson"),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resuming from checkpoint" not in run.stderr
    assert f"no checkpoint yet: reading the input from its start changefeed=other store=file://{state}/cdcsink/other/checkpoint.json" in run.stderr
    check_delivery(second, await rows_in(kafka_bootstrap, f"second-{unique}"))
    # Each feed's checkpoint is its own file in the state directory, none in the working directory.
    stored = {p.parent.name: json.loads(p.read_text()) for p in state.glob("cdcsink/*/checkpoint.json")}
    assert set(stored) == {"default", "other"}
    assert stored["other"]["source"] == f"file:{tmp_path / 'second.ndjson'}"
    assert stored["other"]["sink"] == {"topic": f"second-{unique}", "brokers": [kafka_bootstrap]}
    assert not list(tmp_path.glob("*checkpoint*"))


async def test_another_feeds_checkpoint_is_refused_until_reset(kafka_bootstrap, unique, tmp_path):
    store = f"file://{tmp_path}/shared/checkpoint.json"
    first, second = generate(100, tables=2, resolved_every=20), generate(120, tables=2, resolved_every=20, seed=5)
    first.write(tmp_path / "first.ndjson")
    second.write(tmp_path / "second.ndjson")
    run = cdcsink(["run"], tmp_path, CDCSINK_CHECKPOINT__STORE=store, **feed_env(kafka_bootstrap, f"a-{unique}", "first.ndjson"))
    assert run.returncode == 0, run.stderr[-3000:]

    other = feed_env(kafka_bootstrap, f"b-{unique}", str(tmp_path / "second.ndjson"), CDCSINK_CHECKPOINT__STORE=store, CDCSINK_CHANGEFEED="other")
    run = cdcsink(["run"], tmp_path, **other)
    assert run.returncode == 2, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"cdcsink: checkpoint.store: {tmp_path}/shared/checkpoint.json is another feed's checkpoint ("), last
    assert "changefeed: stored 'default', configured 'other'" in last
    assert f"source: stored 'file:{tmp_path / 'first.ndjson'}', configured 'file:{tmp_path / 'second.ndjson'}'" in last
    assert f"sink topic: stored 'a-{unique}', configured 'b-{unique}'" in last
    assert "cdcsink checkpoint reset" in last
    assert "restarting" not in run.stderr and "Traceback" not in run.stderr

    shown = cdcsink(["checkpoint", "show"], tmp_path, **other)
    assert shown.returncode == 0 and json.loads(shown.stdout.split("\n", 1)[1])["changefeed"] == "default"
    reset = cdcsink(["checkpoint", "reset"], tmp_path, **other)
    assert reset.returncode == 0, reset.stderr
    assert "moved aside to checkpoint.json.reset-" in reset.stdout
    aside = list((tmp_path / "shared").glob("checkpoint.json.reset-*"))
    assert len(aside) == 1 and json.loads(aside[0].read_text())["changefeed"] == "default"  # kept, not deleted

    run = cdcsink(["run"], tmp_path, **other)
    assert run.returncode == 0, run.stderr[-3000:]
    check_delivery(second, await rows_in(kafka_bootstrap, f"b-{unique}"))
    assert json.loads((tmp_path / "shared" / "checkpoint.json").read_text())["changefeed"] == "other"
