"""Synthetic change-event workloads and the checks every end-to-end test applies
to what Kafka holds afterwards."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson

COLUMNS = {"id": "bigint", "qty": "int", "price": "decimal(10,2)", "note": "varchar(64)"}


@dataclass
class Workload:
    lines: list[bytes] = field(default_factory=list)
    #: (schema, table, pk) -> commit_ts of each row change, in input order.
    per_key: dict[tuple[str, str, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    #: (schema, table, commit_ts, query) of each DDL, in input order.
    ddls: list[tuple[str, str | None, int, str]] = field(default_factory=list)
    rows: int = 0
    last_resolved: int = 0

    def write(self, path: Path) -> Path:
        path.write_bytes(b"".join(line + b"\n" for line in self.lines))
        return path


def generate(
    rows: int,
    *,
    tables: int = 4,
    keys: int = 50,
    resolved_every: int = 100,
    ddl_every: int = 0,
    seed: int = 7,
    schema: str = "shop",
    start_ts: int = 1000,
) -> Workload:
    """Inserts, updates and deletes over ``tables`` tables and ``keys`` keys per
    table, one commit_ts per event, a resolved event every ``resolved_every``
    rows and (optionally) a table DDL every ``ddl_every`` rows."""
    rng = random.Random(seed)
    w = Workload()
    ts = start_ts
    alive: dict[tuple[str, int], dict] = {}
    for n in range(1, rows + 1):
        ts += 1
        table = f"t{rng.randrange(tables)}"
        pk = rng.randrange(keys)
        current = alive.get((table, pk))
        event = {"kind": "row", "schema": schema, "table": table, "commit_ts": ts, "commit_time_ms": 1_700_000_000_000 + ts,
                 "pk": ["id"], "columns": COLUMNS}
        after = {"id": pk, "qty": rng.randrange(1000), "price": f"{rng.randrange(10000) / 100:.2f}", "note": f"n{n}"}
        if current is None:
            event.update(op="insert", after=after)
            alive[(table, pk)] = after
        elif rng.random() < 0.2:
            event.update(op="delete", before=current)
            del alive[(table, pk)]
        else:
            event.update(op="update", before=current, after=after)
            alive[(table, pk)] = after
        w.lines.append(orjson.dumps(event))
        w.per_key[(schema, table, pk)].append(ts)
        w.rows += 1
        if ddl_every and n % ddl_every == 0:
            ts += 1
            ddl_table = f"t{rng.randrange(tables)}"
            query = f"ALTER TABLE {ddl_table} COMMENT 'c{n}'"
            w.lines.append(orjson.dumps({"kind": "ddl", "schema": schema, "table": ddl_table, "commit_ts": ts, "query": query}))
            w.ddls.append((schema, ddl_table, ts, query))
        if n % resolved_every == 0:
            ts += 1
            w.lines.append(orjson.dumps({"kind": "resolved", "commit_ts": ts, "commit_time_ms": 1_700_000_000_000 + ts}))
            w.last_resolved = ts
    return w


def workload_from_lines(lines: list[bytes]) -> Workload:
    """The expectations of an input file's lines (as ``generate`` records them)."""
    w = Workload()
    for line in lines:
        event = orjson.loads(line)
        if event["kind"] == "row":
            pk = (event.get("after") or event["before"])["id"]
            w.per_key[(event["schema"], event["table"], pk)].append(event["commit_ts"])
            w.rows += 1
        elif event["kind"] == "ddl":
            w.ddls.append((event["schema"], event.get("table"), event["commit_ts"], event["query"]))
        else:
            w.last_resolved = event["commit_ts"]
    w.lines = lines
    return w


@dataclass
class Seen:
    """What was read back, as (kind, schema, table, pk, commit_ts) per partition in offset order."""

    partitions: dict[tuple[str, int], list[tuple]] = field(default_factory=dict)

    def rows(self):
        for records in self.partitions.values():
            for r in records:
                if r[0] == "row":
                    yield r


def decode_canal(records) -> list[tuple]:
    out = []
    for rec in records:
        msg = orjson.loads(rec.value)
        tidb = msg.get("_tidb") or {}
        if msg["type"] == "TIDB_WATERMARK":
            out.append(("watermark", None, None, None, tidb["watermarkTs"]))
        elif msg["isDdl"]:
            out.append(("ddl", msg["database"], msg["table"] or None, None, tidb.get("commitTs")))
        else:
            out.append(("row", msg["database"], msg["table"], int(msg["data"][0]["id"]), tidb["commitTs"]))
    return out


def event_identity(event: dict) -> tuple | None:
    """An input event as the identity :func:`canal_identity` gives its output (None: resolved)."""
    if event["kind"] == "row":
        pk = (event.get("after") or event["before"])["id"]
        return ("row", event["schema"], event["table"], pk, event["commit_ts"])
    if event["kind"] == "ddl":
        return ("ddl", event["schema"], event["table"], event["commit_ts"])
    return None


def canal_identity(value: bytes) -> tuple | None:
    """A canal-json message (TiDB extension on) as a fault-proxy ledger keeps it."""
    msg = orjson.loads(value)
    if msg["type"] == "TIDB_WATERMARK":
        return None
    if msg["isDdl"]:
        return ("ddl", msg["database"], msg["table"], msg["_tidb"]["commitTs"])
    return ("row", msg["database"], msg["table"], int(msg["data"][0]["id"]), msg["_tidb"]["commitTs"])


def check_delivery(w: Workload, seen: Seen, *, allow_replays: bool = False) -> None:
    """Every row present, per-key order equal to input order, DDLs after their
    table's earlier rows in every partition that carries them, and no row at or
    below a watermark after that watermark in a partition."""
    got: dict[tuple, list[int]] = defaultdict(list)
    for _, schema, table, pk, ts in seen.rows():
        got[(schema, table, pk)].append(ts)
    for key, expected in w.per_key.items():
        actual = got.get(key, [])
        if allow_replays:
            deduped = [ts for i, ts in enumerate(actual) if ts not in actual[:i]]
            assert sorted(set(actual)) == expected, f"{key}: rows missing or foreign"
            assert deduped == expected or _is_replayed_order(actual, expected), f"{key}: order broken: {actual}"
        else:
            assert actual == expected, f"{key}: expected commit_ts {expected}, got {actual}"
    assert set(got) <= set(w.per_key), "rows that were never in the input"
    for (topic, partition), records in seen.partitions.items():
        watermark = 0
        delivered: set[tuple] = set()
        for i, (kind, schema, table, pk, ts) in enumerate(records):
            if kind == "watermark":
                if not allow_replays:
                    assert ts >= watermark, f"{topic}[{partition}] watermark went back"
                watermark = max(watermark, ts)
            elif kind == "row":
                if ts <= watermark:
                    # Only a replay may repeat a row at or below a watermark, and it is a duplicate
                    # the consumer rule drops: the same row arrived earlier in this partition.
                    assert allow_replays and (schema, table, pk, ts) in delivered, (
                        f"{topic}[{partition}] row commit_ts {ts} after watermark {watermark}"
                    )
                delivered.add((schema, table, pk, ts))
            elif kind == "ddl" and table is not None and ts is not None:
                copies = [j for j, r in enumerate(records) if r[0] == "ddl" and r[2] == table and r[4] == ts]
                if not allow_replays:
                    assert copies == [i], f"{topic}[{partition}] DDL@{ts} sent {len(copies)} times without a failure"
                # A replay after a crash may re-send rows before a DDL and then the DDL again:
                # earlier rows precede its last copy, later rows follow its first copy.
                later_rows = [r for r in records[copies[-1] + 1 :] if r[0] == "row" and r[2] == table and r[4] < ts]
                assert not later_rows, f"{topic}[{partition}] rows of {table} before DDL@{ts} appear after it"
                earlier = [r for r in records[: copies[0]] if r[0] == "row" and r[2] == table and r[4] > ts]
                assert not earlier, f"{topic}[{partition}] rows of {table} after DDL@{ts} appear before it"


def _is_replayed_order(actual: list[int], expected: list[int]) -> bool:
    """A replay re-sends a suffix-run: the sequence is expected with some runs repeated in order."""
    i = 0
    for ts in actual:
        if i < len(expected) and ts == expected[i]:
            i += 1
        elif ts in expected[:i]:
            continue
        else:
            return False
    return i == len(expected)
