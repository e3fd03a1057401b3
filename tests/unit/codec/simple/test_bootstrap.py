"""When the simple encoder asks for a bootstrap message, as TiCDC's bootstrap worker
decides (ticdc pkg/sink/codec/bootstraper.go): a table's first row, then every
send-bootstrap-in-msg-count rows or send-bootstrap-interval-in-sec seconds; and
before the first row written in a new table schema."""

from __future__ import annotations

from cdcsink.codec.options import EncoderOptions
from cdcsink.codec.simple.encoder import SimpleEncoder
from cdcsink.events import RowEvent


def row(table: str = "t", columns: dict[str, str] | None = None) -> RowEvent:
    return RowEvent("db", table, 1, "insert", ["id"], columns or {"id": "int"}, None, {"id": 1})


def test_first_row_then_by_count_then_by_interval():
    now = [0]
    encoder = SimpleEncoder(EncoderOptions("simple", send_bootstrap_in_msg_count=3, send_bootstrap_interval_in_sec=10,
                                           clock_ms=lambda: now[0]))
    asked = [encoder.bootstrap(row()) is not None for _ in range(7)]
    # bootstraper.go:244 shouldSendBootstrapMsg: counter >= send-bootstrap-in-msg-count (checked here per row).
    assert asked == [True, False, False, True, False, False, True]
    now[0] = 9_999
    assert encoder.bootstrap(row()) is None
    now[0] = 10_000  # time.Since(lastSendTime) >= send-bootstrap-interval-in-sec
    assert encoder.bootstrap(row()) is not None
    # bootstraper.go:111 addEvent: a table not seen before gets one at once.
    assert encoder.bootstrap(row("other")) is not None


def test_a_new_table_schema_gets_a_bootstrap_before_its_first_row():
    encoder = SimpleEncoder(EncoderOptions("simple"))
    assert encoder.bootstrap(row()) is not None
    assert encoder.bootstrap(row()) is None
    assert encoder.bootstrap(row(columns={"id": "int", "x": "varchar(8)"})) is not None
    assert encoder.bootstrap(row(columns={"id": "int", "x": "varchar(8)"})) is None
