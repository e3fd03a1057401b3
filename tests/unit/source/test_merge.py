"""The partition merger: global resolved ts, per-partition DDL barriers, offsets."""

from cdcsink.events import DDLEvent, ResolvedEvent, RowEvent
from cdcsink.source.kafka.merge import PartitionMerger

A, B, C = ("in", 0), ("in", 1), ("in", 2)


def row(ts: int, offset: int, table: str = "t") -> RowEvent:
    return RowEvent("s", table, ts, "insert", ["id"], {"id": "int"}, None, {"id": ts}, None, offset)


def ddl(ts: int, offset: int, table: str = "t") -> DDLEvent:
    return DDLEvent("s", table, ts, f"ALTER TABLE {table} COMMENT '{ts}'", None, offset)


def resolved(ts: int, offset: int) -> ResolvedEvent:
    return ResolvedEvent(ts, None, None, offset)


def kinds(out) -> list[tuple]:
    names = {RowEvent: "row", DDLEvent: "ddl", ResolvedEvent: "resolved"}
    return [(names[type(e)], e.commit_ts) for e in out]


def merger(*keys, **kw) -> PartitionMerger:
    m = PartitionMerger(**kw)
    for key in keys:  # one at a time: ties between waiting partitions go in this order
        m.assign({key}, 1)
    return m


def test_the_global_resolved_ts_is_the_minimum_over_partitions_and_waits_for_silent_ones():
    m = merger(A, B)
    assert kinds(m.feed(A, [row(5, 0), resolved(10, 1)], 2)) == [("row", 5)]  # B never resolved: held
    out = m.feed(B, [row(7, 0), resolved(8, 1)], 2)
    assert kinds(out) == [("row", 7), ("resolved", 8)]
    assert out[1].position == {A: 2, B: 2}  # offsets after the events before it
    assert kinds(m.feed(B, [resolved(20, 2)], 3)) == [("resolved", 10)]
    assert m.resolved_ts == 10


def test_a_ddl_waits_for_every_partition_and_is_emitted_once():
    m = merger(A, B, C)
    paused, resumed = [], []
    m._pause, m._resume = paused.append, resumed.append
    # A reaches the DDL first: its rows before go out, the DDL and what follows wait.
    out = m.feed(A, [row(1, 0), ddl(5, 1), row(6, 2)], 3)
    assert kinds(out) == [("row", 1)] and paused == [A]
    assert m.snapshot() == {A: 1}  # never past the waiting DDL
    # B carries older rows of the table: they go out before the DDL.
    assert kinds(m.feed(B, [row(2, 0), row(3, 1)], 2)) == [("row", 2), ("row", 3)]
    # A's later input is held back in order.
    assert m.feed(A, [row(7, 3)], 4) == []
    # C promises nothing at or before 5; B reaches its copy: the DDL goes once, then what was held.
    assert m.feed(C, [resolved(5, 0)], 1) == []
    out = m.feed(B, [ddl(5, 2), row(8, 3)], 4)
    assert kinds(out) == [("ddl", 5), ("row", 6), ("row", 7), ("row", 8)]
    assert m.copies_dropped == 1 and resumed == [A, B]
    assert m.snapshot() == {A: 4, B: 4, C: 1}
    # C carries the table too: its copy, still possible at ts 5, is dropped.
    assert m.feed(C, [ddl(5, 1)], 2) == []
    assert m.copies_dropped == 2 and m.snapshot()[C] == 2


def test_a_copy_after_emission_is_dropped_while_it_can_still_arrive():
    m = merger(A, B)
    m.feed(B, [resolved(4, 0)], 1)
    out = m.feed(A, [ddl(5, 0)], 1)
    assert out == []  # B may still carry rows before 5
    out = m.feed(B, [ddl(5, 1), row(9, 2)], 3)
    assert kinds(out) == [("ddl", 5), ("row", 9)]
    assert m.copies_dropped == 1


def test_two_partitions_stopped_at_different_ddls_do_not_wait_on_each_other():
    m = merger(A, B)
    assert m.feed(A, [ddl(5, 0, "t1"), row(9, 1, "t1")], 2) == []
    out = m.feed(B, [ddl(3, 0, "t2"), row(4, 1, "t2"), ddl(5, 2, "t1")], 3)
    # The older DDL goes first (A is stopped at a later one), then B reaches A's DDL.
    assert kinds(out) == [("ddl", 3), ("row", 4), ("ddl", 5), ("row", 9)]


def test_revoked_partitions_stop_holding_a_ddl_and_their_offsets_go_at_forget():
    m = merger(A, B)
    m.feed(A, [ddl(5, 0)], 1)
    m.revoke({B})
    out: list = []
    m.release(out)
    assert kinds(out) == [("ddl", 5)]
    m.offsets[B] = 3
    m.forget({B})
    assert B not in m.snapshot()


def test_no_global_resolved_ts_while_other_instances_hold_some_partitions():
    owns_all = [False]
    m = merger(A, covers_all=lambda: owns_all[0])
    assert m.feed(A, [resolved(10, 0)], 1) == []
    owns_all[0] = True
    assert kinds(m.feed(A, [resolved(11, 1)], 2)) == [("resolved", 11)]


def test_after_an_assignment_a_replayed_ddl_waits_for_every_partition_to_resolve_again():
    m = merger(A, B)
    m.feed(B, [resolved(9, 0)], 1)
    m.revoke({A, B})
    m.forget({A, B})
    m.assign({A, B}, 2)  # a rebalance: B's resolved ts is unknown again
    assert kinds(m.feed(A, [row(4, 0), ddl(5, 1), row(6, 2)], 3)) == [("row", 4)]
    out = m.feed(B, [resolved(12, 1)], 2)  # B's next resolved event frees the DDL
    assert kinds(out) == [("ddl", 5), ("row", 6)]


def test_a_resolved_ts_read_back_at_assignment_frees_a_replayed_ddl():
    m = merger(A, B)
    assert kinds(m.feed(A, [row(4, 0), ddl(5, 1), row(6, 2)], 3)) == [("row", 4)]
    assert not m.seed({B: (12, None)}, epoch=0)  # read back for an older assignment: ignored
    assert m.seed({B: (12, None), A: (3, None)}, epoch=1)
    out: list = []
    m.settle(out)
    # B has nothing at or before 12 after its committed offset: the DDL goes; A's
    # resolved ts (3) is the global one.
    assert kinds(out) == [("resolved", 3), ("ddl", 5), ("row", 6)]
    assert not m.seed({B: (10, None)}, epoch=1)  # never back


def test_a_ddl_without_a_commit_ts_is_no_barrier_and_never_a_copy():
    # canal-json without the TiDB extension: no commit ts, no watermarks, DDL on partition 0 only.
    m = merger(A, B)
    same = DDLEvent("s", "t", 0, "TRUNCATE TABLE t", None, 1)
    again = DDLEvent("s", "t", 0, "TRUNCATE TABLE t", None, 3)
    out = m.feed(A, [row(0, 0), same, row(0, 2), again], 4)
    assert kinds(out) == [("row", 0), ("ddl", 0), ("row", 0), ("ddl", 0)]
    assert m.copies_dropped == 0 and m.snapshot() == {A: 4}


def test_flush_lets_waiting_ddls_go_once_in_commit_order_with_what_they_held():
    # cdcsink consume without --follow: the read ends where the partitions ended.
    m = merger(A, B, C)
    assert kinds(m.feed(A, [ddl(5, 0), row(6, 1)], 2)) == []
    assert kinds(m.feed(B, [ddl(5, 0), ddl(9, 1, "u"), row(10, 2)], 3)) == []
    out: list = []
    m.flush(out)
    assert kinds(out) == [("ddl", 5), ("row", 6), ("ddl", 9), ("row", 10)]
    assert m.snapshot() == {A: 2, B: 3}
