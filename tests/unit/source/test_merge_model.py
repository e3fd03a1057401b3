"""The partition merger against a model (hypothesis): an upstream writes one
ordered stream into several input partitions (each row into one of its
table's partitions by key, a DDL into every partition of its table, a
resolved event into all of them), and the partitions are fed in random
interleavings and run lengths; the stream ends with a resolved event, as a
live upstream's goes on.

The merged stream must hold every row once and every DDL once, each
partition's rows in order; a DDL after every row before it upstream and
before every later row of its table's partitions; resolved events rising,
each after every event at or before its ts and before none of them; and each
resolved event's offsets never past an event of that partition that is not
yet in the stream.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from cdcsink.source.kafka.merge import PartitionMerger


@st.composite
def upstreams(draw: st.DrawFn) -> tuple[int, dict[str, list[int]], list[tuple[str, int, str, int]]]:
    """The partition count, each table's partitions (its rows and its DDLs' copies
    go there), and the upstream's ordered stream: (kind, ts, table, key)."""
    partitions = draw(st.integers(1, 4), label="partitions")
    every = list(range(partitions))
    spread = {
        table: sorted(draw(st.sets(st.sampled_from(every), min_size=1), label=f"partitions of {table}"))
        for table in ("a", "b")
    }
    stream: list[tuple[str, int, str, int]] = []
    for ts in range(1, draw(st.integers(1, 40), label="events") + 1):
        kind = draw(st.sampled_from(["row"] * 6 + ["resolved"] * 2 + ["ddl"]), label="kind")
        stream.append((kind, ts, draw(st.sampled_from(["a", "b"]), label="table"), draw(st.integers(0, 5), label="key")))
    # A live upstream goes on resolving: a DDL in some partitions waits until the others promise.
    stream.append(("resolved", len(stream) + 1, "", 0))
    return partitions, spread, stream


def _partition_logs(partitions: int, spread: dict[str, list[int]], stream: list) -> tuple[list[list[Any]], dict[int, int]]:
    """What each input partition holds (every event's ``line`` is its offset there),
    and each row's partition by its ts."""
    logs: list[list[Any]] = [[] for _ in range(partitions)]
    row_partition: dict[int, int] = {}
    for kind, ts, table, key in stream:
        if kind == "row":
            p = spread[table][key % len(spread[table])]
            log = logs[p]
            log.append(RowEvent("s", table, ts, "insert", ["id"], {"id": "int"}, None, {"id": key}, None, len(log)))
            row_partition[ts] = p
        elif kind == "resolved":
            for log in logs:
                log.append(ResolvedEvent(ts, None, None, len(log)))
        else:
            for p in spread[table]:
                logs[p].append(DDLEvent("s", table, ts, f"ALTER TABLE {table} COMMENT '{ts}'", None, len(logs[p])))
    return logs, row_partition


@settings(max_examples=400, deadline=None)
@given(upstream=upstreams(), data=st.data())
def test_merged_stream_keeps_rows_ddl_barriers_resolved_ts_and_offsets(upstream, data):
    partitions, spread, stream = upstream
    logs, row_partition = _partition_logs(partitions, spread, stream)
    keys = [("in", p) for p in range(partitions)]
    merger = PartitionMerger()
    for key in keys:
        merger.assign({key}, 1)
    cursors = [0] * partitions
    out: list[Any] = []
    #: For each event put into the stream, how far each partition had been fed then.
    fed_at: list[list[int]] = []
    while any(c < len(log) for c, log in zip(cursors, logs)):
        p = data.draw(st.sampled_from([p for p in range(partitions) if cursors[p] < len(logs[p])]), label="partition")
        n = data.draw(st.integers(1, 4), label="run length")
        run = logs[p][cursors[p] : cursors[p] + n]
        cursors[p] += len(run)
        emitted = merger.feed(keys[p], run, run[-1].line + 1)
        out.extend(emitted)
        fed_at.extend([list(cursors)] * len(emitted))
    out_rows = [e for e in out if type(e) is RowEvent]
    ddls = [e for e in out if type(e) is DDLEvent]

    # Everything once: rows, and one DDL per upstream DDL (its copies dropped).
    assert sorted(e.commit_ts for e in out_rows) == [ts for kind, ts, _, _ in stream if kind == "row"]
    assert [e.commit_ts for e in ddls] == [ts for kind, ts, _, _ in stream if kind == "ddl"]
    # Each partition's rows in order (a key always lives in one partition).
    for p in range(partitions):
        mine = [e.line for e in out_rows if row_partition[e.commit_ts] == p]
        assert mine == sorted(mine), f"partition {p} rows out of order: {mine}"

    position = {id(e): i for i, e in enumerate(out)}
    for ddl in ddls:
        # Before it: every earlier row. After it: the later rows of the partitions
        # that carry its copy (the others never stopped there).
        before = [e for e in out_rows if e.commit_ts < ddl.commit_ts]
        after = [e for e in out_rows if e.commit_ts > ddl.commit_ts and row_partition[e.commit_ts] in spread[ddl.table]]
        assert all(position[id(e)] < position[id(ddl)] for e in before), f"a row before DDL@{ddl.commit_ts} came after it"
        assert all(position[id(e)] > position[id(ddl)] for e in after), f"a row after DDL@{ddl.commit_ts} came before it"

    last = 0
    for i, event in enumerate(out):
        if type(event) is not ResolvedEvent:
            continue
        ts = event.commit_ts
        assert ts > last, "the resolved ts went back or repeated"
        last = ts
        earlier = {e.commit_ts for e in out[:i] if type(e) is not ResolvedEvent}
        assert all(e.commit_ts > ts for e in out[i + 1 :] if type(e) is not ResolvedEvent), (
            f"an event at or before resolved ts {ts} came after it"
        )
        assert {t for kind, t, _, _ in stream if kind != "resolved" and t <= ts} <= earlier
        # Offsets: every event of the partition before its offset was fed, and is in
        # the stream by now (or was a resolved event or a dropped DDL copy).
        for (_, p), offset in event.position.items():
            assert offset <= fed_at[i][p]
            for held in logs[p][:offset]:
                if type(held) is RowEvent:
                    assert position[id(held)] < i, f"offset {offset} of partition {p} passes row at offset {held.line}"
                elif type(held) is DDLEvent:
                    assert any(d.commit_ts == held.commit_ts and position[id(d)] < i for d in ddls)

    # Nothing is left behind once every partition was fed to its end.
    assert not any(part.held for part in merger.parts.values())
    final = max((ts for kind, ts, _, _ in stream if kind == "resolved"), default=0)
    assert last == final


def _last_resolved_before(log: list[Any], offset: int) -> int:
    """What the read-back at assignment finds: the partition's last resolved ts before ``offset``."""
    return max((e.commit_ts for e in log[:offset] if type(e) is ResolvedEvent), default=0)


@settings(max_examples=400, deadline=None)
@given(upstream=upstreams(), data=st.data())
def test_after_rebalances_and_replays_nothing_is_stuck_or_lost_and_order_holds_for_first_deliveries(upstream, data):
    """Up to two rebalances at random moments: every partition revoked and assigned
    again, read again from an offset the stream had reached (what was committed),
    its resolved ts read back at a random later moment. Replays may repeat events;
    nothing may be lost or stay held, and first deliveries keep the promises."""
    partitions, spread, stream = upstream
    logs, row_partition = _partition_logs(partitions, spread, stream)
    keys = {("in", p) for p in range(partitions)}
    merger = PartitionMerger()
    epoch = 1
    merger.assign(keys, epoch)
    cursors = [0] * partitions
    out: list[Any] = []
    cuts: list[dict] = [{}]  # offsets the stream had reached at each cut: commit candidates
    seed_due: dict | None = None
    rebalances = 0
    while any(c < len(log) for c, log in zip(cursors, logs)):
        if rebalances < 2 and data.draw(st.integers(0, 9), label="rebalance now") == 0:
            rebalances += 1
            merger.revoke(keys)
            merger.pending_release = True
            committed = data.draw(st.sampled_from(cuts), label="committed offsets")
            merger.forget(keys)
            epoch += 1
            merger.assign(keys, epoch)
            cursors = [committed.get(("in", p), 0) for p in range(partitions)]
            seed_due = {("in", p): (_last_resolved_before(logs[p], cursors[p]), None) for p in range(partitions)}
        if seed_due is not None and data.draw(st.booleans(), label="read-back arrives"):
            if merger.seed(seed_due, epoch):
                merger.settle(out)
            seed_due = None
        choices = [p for p in range(partitions) if cursors[p] < len(logs[p])]
        p = data.draw(st.sampled_from(choices), label="partition")
        run = logs[p][cursors[p] : cursors[p] + data.draw(st.integers(1, 4), label="run length")]
        cursors[p] += len(run)
        before = len(out)
        out.extend(merger.feed(("in", p), run, run[-1].line + 1))
        if merger.pending_release:
            merger.pending_release = False
            merger.release(out)
        # Every run ends in a cut (the pipeline's tracker segment): its offsets may be committed.
        cuts.extend(e.position for e in out[before:] if type(e) is ResolvedEvent)
        cuts.append(merger.snapshot())
    if seed_due is not None:  # the read-back arrives after the last record was read
        if merger.seed(seed_due, epoch):
            merger.settle(out)

    assert not any(part.held for part in merger.parts.values()), "a partition is still held at the end of its input"
    final = max(ts for kind, ts, _, _ in stream if kind == "resolved")
    assert merger.resolved_ts == final

    first: dict[tuple[str, int], int] = {}  # (kind, ts) -> index of its first delivery
    for i, e in enumerate(out):
        first.setdefault((type(e).__name__, e.commit_ts), i)
    rows = [ts for kind, ts, _, _ in stream if kind == "row"]
    assert {ts for kind, ts in first if kind == "RowEvent"} == set(rows), "a row was never delivered"
    assert {ts for kind, ts in first if kind == "DDLEvent"} == {ts for kind, ts, _, _ in stream if kind == "ddl"}
    for p in range(partitions):
        mine = sorted((first[("RowEvent", ts)], ts) for ts in rows if row_partition[ts] == p)
        assert [ts for _, ts in mine] == sorted(ts for _, ts in mine), f"partition {p}: first deliveries out of order"
    for kind, ts, table, _ in stream:
        if kind != "ddl":
            continue
        at = first[("DDLEvent", ts)]
        assert all(first[("RowEvent", r)] < at for r in rows if r < ts), f"a row before DDL@{ts} first came after it"
        assert all(first[("RowEvent", r)] > at for r in rows if r > ts and row_partition[r] in spread[table]), (
            f"a row after DDL@{ts} came before it"
        )
    resolved = [e for e in out if type(e) is ResolvedEvent]
    assert [e.commit_ts for e in resolved] == sorted({e.commit_ts for e in resolved}), "the resolved ts did not rise"
    for e in resolved:
        at = first[("ResolvedEvent", e.commit_ts)]
        assert all(i < at for (kind, ts), i in first.items() if kind != "ResolvedEvent" and ts <= e.commit_ts), (
            f"an event at or before resolved ts {e.commit_ts} was first delivered after it"
        )
