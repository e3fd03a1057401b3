"""``cdcsink check`` and the start of ``cdcsink run`` against a real broker:
nothing is created before the config and the input are known good, and check
says exactly what it created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.kafka_input import create_topic
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]
ROOT = Path(__file__).resolve().parents[2]
ROW = '{"kind":"row","schema":"shop","table":"orders","commit_ts":1,"op":"insert","pk":["id"],"columns":{"id":"bigint"},"after":{"id":1}}\n'


async def topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def cdcsink(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CDCSINK_")}
    env.update(PYTHONPATH=str(ROOT), CDCSINK_HTTP__ENABLED="false")
    return subprocess.run([sys.executable, "-m", "cdcsink", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def write_config(tmp_path: Path, bootstrap: str, topic: str, source: str | None = None, extra: str = "") -> Path:
    (tmp_path / "events.ndjson").write_text(ROW)
    path = tmp_path / "cdcsink.yaml"
    path.write_text(
        (source or f"source:\n  path: {tmp_path}/events.ndjson\n")
        + f"""\
sink:
  uri: {with_client(f'kafka://{bootstrap}/{topic}?protocol=canal-json&partition-num=2')}
  dispatchers:
    - matcher: ["shop.*"]
      topic: "{topic}-{{table}}"
checkpoint:
  store: file://{tmp_path}/cp.json
{extra}"""
    )
    return path


async def test_check_creates_only_the_default_topic_and_says_so(kafka_bootstrap, unique, tmp_path):
    topic = f"check-{unique}"
    config = write_config(tmp_path, kafka_bootstrap, topic)
    first = cdcsink("check", "--config", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"created topic {topic} (2 partitions, replication factor 1)" in first.stdout.splitlines()
    assert [line for line in first.stdout.splitlines() if line.startswith("created topic")] == [
        f"created topic {topic} (2 partitions, replication factor 1)"
    ]
    # The sample row is routed and encoded, but its topic is left to the run that needs it.
    assert f"-> topic {topic}-orders partition 0/2" in first.stdout
    assert f"(topic {topic}-orders does not exist yet; a run creates it with 2 partitions)" in first.stdout
    assert f"input: 1 file readable ({tmp_path}/events.ndjson)" in first.stdout
    existing = await topics(kafka_bootstrap)
    assert topic in existing and f"{topic}-orders" not in existing
    second = cdcsink("check", "--config", str(config), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert not [line for line in second.stdout.splitlines() if line.startswith("created topic")]


@pytest.mark.parametrize("command", ["check", "run"])
async def test_a_missing_input_file_creates_nothing(kafka_bootstrap, unique, tmp_path, command):
    topic = f"noinput-{command}-{unique}"
    config = write_config(tmp_path, kafka_bootstrap, topic)
    (tmp_path / "events.ndjson").unlink()
    result = cdcsink(command, "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"cdcsink: source.path: {tmp_path}/events.ndjson: no such file"
    assert "config: ok" not in result.stdout
    assert topic not in await topics(kafka_bootstrap)


async def test_check_reports_the_dead_letter_topic_without_creating_it(kafka_bootstrap, unique, tmp_path):
    topic = f"dlq-check-{unique}"
    source = f"source:\n  path: {tmp_path}/events.ndjson\n  on-invalid: dead-letter\n"
    config = write_config(tmp_path, kafka_bootstrap, topic, source=source)
    result = cdcsink("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"dead-letter: topic {topic}-dlq does not exist yet (created at the first invalid line)" in result.stdout
    assert f"{topic}-dlq" not in await topics(kafka_bootstrap)


async def test_check_of_a_kafka_source_needs_its_input_topics(kafka_bootstrap, unique, tmp_path):
    topic = f"ksrc-check-{unique}"
    source = f"source:\n  type: kafka\n  bootstrap: {kafka_bootstrap}\n  topics: [in-{unique}]\n  group: g-{unique}\n"
    config = write_config(tmp_path, kafka_bootstrap, topic, source=source)
    missing = cdcsink("check", "--config", str(config), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"cdcsink: source.topics: in-{unique}: no such topic on {kafka_bootstrap}"
    assert topic not in await topics(kafka_bootstrap)
    await create_topic(kafka_bootstrap, f"in-{unique}")
    present = cdcsink("check", "--config", str(config), cwd=tmp_path)
    assert present.returncode == 0, present.stderr
    assert f"kafka source: connected to {kafka_bootstrap}; input topics in-{unique} exist" in present.stdout
