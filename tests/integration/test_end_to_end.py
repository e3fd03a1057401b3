"""End to end against a real broker: file -> cdcsink -> Kafka -> read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import orjson
import pytest

from cdcsink.config import Settings
from cdcsink.devtools.readback import read_back
from cdcsink.codec.open_protocol.message import decode_open_protocol
from cdcsink.pipeline import Pipeline
from tests.workload import Seen, Workload, check_delivery, decode_canal, generate
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]


def settings_for(bootstrap: str, input_path: Path, checkpoint: Path, topic: str, *, protocol: str = "canal-json",
                 partition: str = "index-value", extra: str = "") -> Settings:
    return Settings(
        changefeed="e2e",
        source={"type": "file", "path": str(input_path)},
        sink={
            "uri": with_client(f"kafka://{bootstrap}/{topic}?protocol={protocol}&partition-num=3&enable-tidb-extension=true{extra}"),
            "dispatchers": [{"matcher": ["shop.*"], "topic": topic + "_{table}", "partition": partition}],
        },
        checkpoint={"store": f"file://{checkpoint}", "interval": "50ms"},
    )


def decode_open(records) -> list[tuple]:
    out = []
    for rec in records:
        for key, value in decode_open_protocol(rec.key, rec.value):
            if key["t"] == 3:
                out.append(("watermark", None, None, None, key["ts"]))
            elif key["t"] == 2:
                out.append(("ddl", key.get("scm"), key.get("tbl"), None, key["ts"]))
            else:
                cols = value.get("u") or value.get("d")
                out.append(("row", key["scm"], key["tbl"], int(cols["id"]["v"]), key["ts"]))
    return out


async def run_and_read(settings: Settings, bootstrap: str, decode) -> tuple[object, Seen]:
    result = await Pipeline(settings).run()
    records = await read_back(bootstrap, result.messages)
    seen = Seen({tp: decode(recs) for tp, recs in records.items()})
    for tp, n in result.messages.items():
        assert len(records[tp]) == n, f"{tp}: {n} acked, {len(records[tp])} read back"
    return result, seen


@pytest.mark.parametrize("protocol", ["canal-json", "open-protocol"])
async def test_every_row_arrives_in_order_with_ddls_and_final_checkpoint(kafka_bootstrap, unique, tmp_path, protocol):
    w = generate(3000, tables=4, keys=40, resolved_every=100, ddl_every=700)
    path = w.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    settings = settings_for(kafka_bootstrap, path, checkpoint, f"e2e-{unique}", protocol=protocol)
    decode = decode_canal if protocol == "canal-json" else decode_open
    result, seen = await run_and_read(settings, kafka_bootstrap, decode)

    assert result.rows == w.rows and result.ddls == len(w.ddls)
    assert sum(1 for _ in seen.rows()) == w.rows
    check_delivery(w, seen)
    # Every DDL reached its table's topic (partition 0 for canal-json, all for open-protocol).
    for schema, table, ts, _ in w.ddls:
        topic = f"e2e-{unique}_{table}"
        carrying = sorted(p for (t, p), recs in seen.partitions.items() if t == topic and any(r[0] == "ddl" and r[4] == ts for r in recs))
        assert carrying == ([0] if protocol == "canal-json" else [0, 1, 2])
    # Watermarks reached every partition of every topic written, and the last is the final checkpoint.
    for (topic, partition), recs in seen.partitions.items():
        marks = [r[4] for r in recs if r[0] == "watermark"]
        assert marks and marks[-1] == w.last_resolved, f"{topic}[{partition}]: {marks[-3:]}"
    stored = json.loads(checkpoint.read_text())
    assert stored["checkpoint_ts"] == w.last_resolved == result.checkpoint_ts
    last = w.lines[-1] + b"\n"
    assert stored["position"] == {
        "path": str(path), "offset": path.stat().st_size, "line": len(w.lines),
        "line_bytes": len(last), "line_crc32": zlib.crc32(last),
    }


async def test_resume_from_stored_checkpoint_sends_exactly_the_rest(kafka_bootstrap, unique, tmp_path):
    w = generate(1000, tables=3, keys=30, resolved_every=50)
    path = w.write(tmp_path / "events.ndjson")
    # A checkpoint as a crashed run would have left it: at the 10th resolved event.
    resolved_lines = [i for i, line in enumerate(w.lines) if b'"resolved"' in line]
    cut = resolved_lines[9]
    offset = sum(len(line) + 1 for line in w.lines[: cut + 1])
    cut_ts = orjson.loads(w.lines[cut])["commit_ts"]
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(json.dumps({"checkpoint_ts": cut_ts, "position": {"path": str(path), "offset": offset, "line": cut + 1}}))

    settings = settings_for(kafka_bootstrap, path, checkpoint, f"resume-{unique}")
    result, seen = await run_and_read(settings, kafka_bootstrap, decode_canal)

    rest = Workload()
    for line in w.lines[cut + 1 :]:
        event = orjson.loads(line)
        if event["kind"] == "row":
            rest.per_key[(event["schema"], event["table"], (event.get("after") or event["before"])["id"])].append(event["commit_ts"])
            rest.rows += 1
    assert result.rows == rest.rows
    check_delivery(rest, seen)  # nothing before the checkpoint re-sent, nothing after it skipped
    assert json.loads(checkpoint.read_text())["checkpoint_ts"] == w.last_resolved


async def test_a_replaced_input_file_is_refused_at_start_not_read_from_the_old_offset(kafka_bootstrap, unique, tmp_path):
    """The input file replaced by another that has a line start at the stored offset too:
    resuming there would never send the new file's first part, so the run exits 2."""
    w = generate(100, tables=2, resolved_every=10)
    path = w.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    await Pipeline(settings_for(kafka_bootstrap, path, checkpoint, f"replaced-{unique}")).run()
    offset = json.loads(checkpoint.read_text())["position"]["offset"]
    assert offset == path.stat().st_size
    # A new export whose lines happen to end at the old offset too (a blank line fills up to
    # it): resumed there, its first events would never be sent.
    head = b"".join(line + b"\n" for line in generate(10, tables=2, resolved_every=5, start_ts=w.last_resolved + 10).lines)
    tail = b"".join(line + b"\n" for line in generate(10, tables=2, resolved_every=5, start_ts=w.last_resolved + 1000).lines)
    assert len(head) < offset - 1
    path.write_bytes(head + b" " * (offset - 1 - len(head)) + b"\n" + tail)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        CDCSINK_CHANGEFEED="e2e",
        CDCSINK_SOURCE__PATH=str(path),
        CDCSINK_SINK__URI=f"kafka://{kafka_bootstrap}/replaced-{unique}?protocol=canal-json",
        CDCSINK_CHECKPOINT__STORE=f"file://{checkpoint}",
        CDCSINK_HTTP__ENABLED="false",
    )
    run = subprocess.run([sys.executable, "-m", "cdcsink", "run"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last == (
        f"cdcsink: checkpoint position {path}@{offset} (after line {len(w.lines)}) follows a line that is not the one "
        "read there before: the file was replaced or changed since the checkpoint; to read it from its start: "
        "cdcsink checkpoint reset"
    ), run.stderr[-3000:]


async def test_cli_run_and_check(kafka_bootstrap, unique, tmp_path):
    w = generate(200, tables=2, resolved_every=20)
    path = w.write(tmp_path / "events.ndjson")
    config = tmp_path / "cdcsink.yaml"
    config.write_text(
        f"""
source:
  type: file
  path: {path}
sink:
  uri: {with_client(f'kafka://{kafka_bootstrap}/cli-{unique}?protocol=canal-json&enable-tidb-extension=true')}
  partition-num: 2
checkpoint:
  store: file://{tmp_path}/cp.json
  interval: 100ms
"""
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    check = subprocess.run([sys.executable, "-m", "cdcsink", "check", "--config", str(config)], capture_output=True, text=True, env=env, timeout=60)
    assert check.returncode == 0, check.stderr
    assert f"cli-{unique} has 2 partitions" in check.stdout and "sample: shop.t" in check.stdout
    run = subprocess.run([sys.executable, "-m", "cdcsink", "run", "--config", str(config)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "cp.json").read_text())["checkpoint_ts"] == w.last_resolved

    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("partition-num: 2", "partition-num: lots"))
    failed = subprocess.run([sys.executable, "-m", "cdcsink", "check", "--config", str(bad)], capture_output=True, text=True, env=env, timeout=60)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and f"{bad}:7: sink.partition-num:" in failed.stderr


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_producer_compression(kafka_bootstrap, unique, tmp_path, codec):
    w = generate(500, tables=2, resolved_every=100)
    path = w.write(tmp_path / "events.ndjson")
    topic = f"zip-{codec}-{unique}"
    settings = settings_for(kafka_bootstrap, path, tmp_path / "cp.json", topic, extra=f"&compression={codec}")
    result, seen = await run_and_read(settings, kafka_bootstrap, decode_canal)
    check_delivery(w, seen)
    assert result.rows == 500


@pytest.mark.parametrize("protocol", ["canal-json", "open-protocol"])
async def test_payload_trimming_options_from_the_uri(kafka_bootstrap, unique, tmp_path, protocol):
    columns = {"id": "bigint", "status": "varchar(16)", "note": "varchar(64)"}
    lines = [
        {"kind": "row", "schema": "shop", "table": "t", "commit_ts": 10, "op": "insert", "pk": ["id"], "columns": columns,
         "after": {"id": 1, "status": "new", "note": "n"}},
        {"kind": "row", "schema": "shop", "table": "t", "commit_ts": 11, "op": "update", "pk": ["id"], "columns": columns,
         "before": {"id": 1, "status": "new", "note": "n"}, "after": {"id": 1, "status": "paid", "note": "n"}},
        {"kind": "row", "schema": "shop", "table": "t", "commit_ts": 12, "op": "delete", "pk": ["id"], "columns": columns,
         "before": {"id": 1, "status": "paid", "note": "n"}},
        {"kind": "resolved", "commit_ts": 12},
    ]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    topic = f"trim-{unique}"
    settings = settings_for(
        kafka_bootstrap, path, tmp_path / "cp.json", topic, protocol=protocol, partition="table",
        extra="&only-output-updated-columns=true&delete-only-output-handle-key-columns=true&max-batch-size=1",
    )
    result = await Pipeline(settings).run()
    assert result.rows == 3
    records = await read_back(kafka_bootstrap, {tp: n for tp, n in result.messages.items() if tp[0] == f"{topic}_t"})
    rows = [r for recs in records.values() for r in recs]
    if protocol == "canal-json":
        messages = [orjson.loads(r.value) for r in rows if orjson.loads(r.value)["type"] in ("UPDATE", "DELETE")]
        update, delete = sorted(messages, key=lambda m: m["type"], reverse=True)
        assert update["old"] == [{"status": "new"}] and update["data"] == [{"id": "1", "status": "paid", "note": "n"}]
        assert delete["data"] == [{"id": "1"}] and delete["mysqlType"] == {"id": "bigint"}
    else:
        entries = [value for r in rows for key, value in decode_open_protocol(r.key, r.value) if key["t"] == 1]
        update = next(v for v in entries if "p" in v)
        delete = next(v for v in entries if "d" in v)
        assert set(update["p"]) == {"status"} and set(update["u"]) == set(columns)
        assert set(delete["d"]) == {"id"}


def test_a_checkpoint_store_that_cannot_be_written_exits_2_naming_it(kafka_bootstrap, unique, tmp_path):
    w = generate(20, tables=1, resolved_every=10)
    path = w.write(tmp_path / "events.ndjson")
    (tmp_path / "a-file").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        CDCSINK_SOURCE__PATH=str(path),
        CDCSINK_SINK__URI=with_client(f"kafka://{kafka_bootstrap}/store-{unique}?protocol=canal-json"),
        CDCSINK_CHECKPOINT__STORE=f"file://{tmp_path}/a-file/cp.json",  # under a file: cannot be created
        CDCSINK_HTTP__ENABLED="false",
    )
    run = subprocess.run([sys.executable, "-m", "cdcsink", "run"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("cdcsink: ") and "checkpoint.store" in last and "a-file" in last, run.stderr[-3000:]
    assert "restarting from the checkpoint" not in run.stderr


async def test_check_reports_the_claim_check_and_dead_letter_targets(kafka_bootstrap, unique, tmp_path):
    from cdcsink.check import check
    from cdcsink.errors import ConfigError

    path = generate(10, tables=1, resolved_every=5).write(tmp_path / "events.ndjson")

    def settings_with(dead_letter: str | None) -> Settings:
        return Settings(
            source={"type": "file", "path": str(path), "on-invalid": "dead-letter", "dead-letter": dead_letter},
            sink={"uri": with_client(f"kafka://{kafka_bootstrap}/chk-{unique}?protocol=canal-json&enable-tidb-extension=true"
                                     f"&large-message-handle-option=claim-check&claim-check-storage-uri=file://{tmp_path}/claims")},
            checkpoint={"store": f"file://{tmp_path}/cp.json"},
        )

    report = await check(settings_with(f"file://{tmp_path}/dlq/bad.ndjson"))
    assert f"claim-check storage: {tmp_path}/claims writable" in report
    assert f"dead-letter: file {tmp_path}/dlq/bad.ndjson writable" in report
    assert f"dead-letter: topic chk-{unique}-dlq does not exist yet (created at the first invalid line)" in await check(settings_with(None))
    (tmp_path / "plain").write_text("")
    with pytest.raises(ConfigError, match="source.dead-letter: cannot create"):
        await check(settings_with(f"file://{tmp_path}/plain/bad.ndjson"))
