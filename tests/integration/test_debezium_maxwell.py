"""End to end with protocol=debezium and protocol=maxwell: NDJSON with inserts,
updates, deletes, DDL and resolved events over several tables -> cdcsink ->
Kafka (3 partitions, rows by key) -> read back -> the protocol's decoder ->
the same events: every row once, each key's changes in input order, the
values the format keeps, each DDL in every partition, debezium's watermarks."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.registry import build_decoder
from cdcsink.config import Settings
from cdcsink.devtools.readback import read_back
from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from cdcsink.pipeline import Pipeline
from tests.workload import generate

pytestmark = pytest.mark.broker

PARTITIONS = 3


def expected_changes(lines: list[bytes]) -> tuple[dict[tuple, list[tuple]], list[dict[str, Any]]]:
    """Per (schema, table, id): the (op, commit_ts, before, after) of each change in input order; and the DDLs."""
    per_key: dict[tuple, list[tuple]] = defaultdict(list)
    ddls = []
    for line in lines:
        event = orjson.loads(line)
        if event["kind"] == "row":
            image = event.get("after") or event["before"]
            per_key[(event["schema"], event["table"], image["id"])].append(
                (event["op"], event["commit_ts"], event.get("before"), event.get("after")))
        elif event["kind"] == "ddl":
            ddls.append(event)
    return per_key, ddls


def as_sent(protocol: str, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the protocol keeps of a workload row (id bigint, qty int, price decimal(10,2), note varchar):
    debezium sends the decimal as a double."""
    if image is None:
        return None
    if protocol == "debezium":
        return dict(image, price=Decimal(image["price"]).normalize())
    return image


def as_read(protocol: str, image: dict[str, Any] | None) -> dict[str, Any] | None:
    if image is None or protocol != "debezium":
        return image
    return dict(image, price=Decimal(image["price"]).normalize())


@pytest.mark.parametrize("protocol, params", [
    ("debezium", "&enable-tidb-extension=true"),
    ("debezium", "&debezium-disable-schema=false&large-message-handle-compression=lz4&enable-tidb-extension=true"),
    ("maxwell", ""),
], ids=["debezium", "debezium-lz4", "maxwell"])
async def test_events_read_back_through_the_protocols_decoder(kafka_bootstrap, unique, tmp_path: Path, protocol, params):
    workload = generate(240, tables=3, keys=15, resolved_every=40, ddl_every=80, seed=11)
    path = workload.write(tmp_path / "events.ndjson")
    topic = f"{protocol}-{unique}"
    settings = Settings(
        changefeed="cf-e2e",
        source={"type": "file", "path": str(path)},
        sink={"uri": f"kafka://{kafka_bootstrap}/{topic}?protocol={protocol}&partition-num={PARTITIONS}{params}",
              "dispatchers": [{"matcher": ["shop.*"], "topic": topic, "partition": "index-value"}]},
        checkpoint={"store": f"file://{tmp_path / 'cp.json'}", "interval": "50ms"},
    )
    result = await Pipeline(settings).run()
    assert result.rows == workload.rows
    records = await read_back(kafka_bootstrap, result.messages)
    compression = "lz4" if "lz4" in params else "none"
    decoder = build_decoder(EncoderOptions(protocol=protocol, large_message_handle_compression=compression))

    per_key: dict[tuple, list[RowEvent]] = defaultdict(list)
    ddls_per_partition: dict[int, list[DDLEvent]] = defaultdict(list)
    resolved: dict[int, list[int]] = defaultdict(list)
    for (record_topic, partition), partition_records in records.items():
        if record_topic != topic:
            continue
        for record in partition_records:
            for event in decoder.decode(record.key, record.value):
                if isinstance(event, RowEvent):
                    image = event.after if event.after is not None else event.before
                    per_key[(event.schema, event.table, image["id"])].append(event)  # type: ignore[index]
                elif isinstance(event, DDLEvent):
                    ddls_per_partition[partition].append(event)
                else:
                    assert isinstance(event, ResolvedEvent)
                    resolved[partition].append(event.commit_ts)

    want, ddls = expected_changes(workload.lines)
    assert set(per_key) == set(want)
    for key, changes in want.items():
        got = per_key[key]
        assert [event.op for event in got] == [op for op, _, _, _ in changes], key
        if protocol == "debezium":
            assert [event.commit_ts for event in got] == [ts for _, ts, _, _ in changes], key
        else:  # maxwell keeps the commit time in seconds only
            assert all(event.commit_ts == 0 and event.commit_time_ms is not None for event in got)
        for event, (_, _, before, after) in zip(got, changes):
            assert as_read(protocol, event.after) == as_sent(protocol, after), key
            assert as_read(protocol, event.before) == as_sent(protocol, before), key
    # Each DDL in every partition, in input order.
    assert sorted(ddls_per_partition) == list(range(PARTITIONS))
    for partition in range(PARTITIONS):
        assert [(d.schema, d.table, d.query) for d in ddls_per_partition[partition]] == [
            (d["schema"], d["table"], d["query"]) for d in ddls]
        if protocol == "debezium":
            assert [d.commit_ts for d in ddls_per_partition[partition]] == [d["commit_ts"] for d in ddls]
            # watermarks (enable-tidb-extension) reach every partition and end at the last resolved ts
            assert resolved[partition] and resolved[partition][-1] == workload.last_resolved
            assert resolved[partition] == sorted(resolved[partition])
        else:
            assert not resolved[partition]  # maxwell has no watermark


@pytest.mark.parametrize("protocol", ["debezium", "maxwell"])
async def test_every_type_reads_back_as_far_as_the_protocol_keeps_it(kafka_bootstrap, unique, tmp_path: Path, protocol):
    """The all-types table of test_all_types (every supported type, edge values in their input forms)."""
    from tests.integration.test_all_types import all_types, canonical_rows, input_lines
    from tests.unit.codec.debezium.test_debezium_roundtrip import comparable, kept
    from tests.unit.codec.maxwell.test_maxwell_roundtrip import kept as maxwell_kept

    table = all_types()
    rows = canonical_rows(table)
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in input_lines(table, rows)))
    topic = f"types-{protocol}-{unique}"
    extension = "&enable-tidb-extension=true" if protocol == "debezium" else ""
    settings = Settings(
        changefeed="all-types",
        source={"type": "file", "path": str(path)},
        sink={"uri": f"kafka://{kafka_bootstrap}/{topic}?protocol={protocol}&partition-num=1{extension}",
              "dispatchers": [{"matcher": ["types.*"], "topic": topic, "partition": "table"}]},
        checkpoint={"store": f"file://{tmp_path / 'cp.json'}", "interval": "50ms"},
    )
    result = await Pipeline(settings).run()
    assert result.rows == 6
    records = await read_back(kafka_bootstrap, result.messages)
    decoder = build_decoder(EncoderOptions(protocol=protocol))
    got = [event for record in records[(topic, 0)] for event in decoder.decode(record.key, record.value)
           if isinstance(event, RowEvent)]
    assert [event.op for event in got] == ["insert"] * 4 + ["update", "delete"]
    expected = [(None, row) for row in rows] + [(rows[0], dict(rows[3], id=1)), (rows[1], None)]
    for event, (before, after) in zip(got, expected):
        for image, want in ((event.before, before), (event.after, after)):
            if want is None:
                assert image is None
                continue
            for column in table.columns:
                if protocol == "debezium":
                    assert comparable("typed", column, image[column.name]) == kept("typed", column, want[column.name]), column.declared
                else:
                    assert image[column.name] == maxwell_kept(column, want[column.name]), column.declared
