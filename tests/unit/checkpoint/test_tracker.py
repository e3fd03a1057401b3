from cdcsink.checkpoint.tracker import CheckpointTracker


def pos(n: int) -> dict:
    return {"path": "f", "offset": n, "line": n}


def test_checkpoint_waits_for_every_earlier_ack():
    t = CheckpointTracker()
    seg1 = t.current
    seg1.pending += 3
    t.resolve(10, pos(1))
    seg2 = t.current
    seg2.pending += 2
    t.resolve(20, pos(2))
    assert t.checkpoint_ts == 0 and t.position is None
    t.ack(seg2, 2)  # later segment acked first: must not advance past seg1
    assert t.checkpoint_ts == 0
    t.ack(seg1, 2)
    assert t.checkpoint_ts == 0
    t.ack(seg1, 1)
    assert (t.checkpoint_ts, t.position) == (20, pos(2))


def test_open_segment_never_advances_the_checkpoint():
    t = CheckpointTracker(5, pos(0))
    seg = t.current
    seg.pending += 1
    t.ack(seg, 1)
    assert t.checkpoint_ts == 5  # no resolved event closed it yet
    t.resolve(9, pos(3))
    assert (t.checkpoint_ts, t.position) == (9, pos(3))


def test_empty_segments_advance_at_once_and_resolved_ts_is_tracked():
    t = CheckpointTracker()
    t.resolve(3, pos(1))
    t.resolve(4, pos(2))
    assert t.checkpoint_ts == 4 and t.resolved_ts == 4 and t.pending_segments == 1


def test_end_of_input_moves_position_but_keeps_ts():
    t = CheckpointTracker()
    seg = t.current
    seg.pending += 1
    t.resolve(7, pos(1))
    tail = t.current
    tail.pending += 2
    t.end_of_input(pos(9))
    t.ack(seg, 1)
    assert (t.checkpoint_ts, t.position) == (7, pos(1))
    t.ack(tail, 2)
    assert (t.checkpoint_ts, t.position) == (7, pos(9))


def test_commit_time_follows_checkpoint():
    t = CheckpointTracker()
    t.resolve(7, pos(1), commit_time_ms=1234)
    assert t.commit_time_ms == 1234


def test_resolved_done_counts_real_resolved_events_only():
    t = CheckpointTracker()
    t.resolve(1, pos(1))
    t.resolve(2, pos(2))
    t.end_of_input(pos(3))
    assert t.resolved_done == 2 and t.position == pos(3)
