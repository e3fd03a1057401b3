"""Client-library log lines come out in the daemon's format (JSON lines in json mode)."""

import json
import logging


from cdcsink.logs import configure_logging


def test_stdlib_lines_are_json_with_the_changefeed(capsys):
    configure_logging("json", "info", changefeed="orders")
    logging.getLogger("aiokafka").error("Unable connect to %s", "127.0.0.1:9092")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "Unable connect to 127.0.0.1:9092"
    assert record["logger"] == "aiokafka" and record["level"] == "error" and record["changefeed"] == "orders"
    assert "timestamp" in record


def test_console_format_stays_one_line(capsys):
    configure_logging("console", "info")
    logging.getLogger("aiokafka").error("boom")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "boom" in err[0] and "aiokafka" in err[0]


def test_json_lines_take_fields_json_has_no_form_for(capsys):
    """A Kafka source's checkpoint position is keyed by (topic, partition): the
    debug line that names it is written, not a crash of the daemon."""
    import structlog

    configure_logging("json", "debug", changefeed="orders")
    structlog.get_logger("cdcsink.pipeline").debug(
        "checkpoint written", checkpoint_ts=7, position={("orders", 0): 41, ("orders", 1): 12}, when=object
    )
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["event"] == "checkpoint written" and record["checkpoint_ts"] == 7
    assert record["position"] == {"('orders', 0)": 41, "('orders', 1)": 12}
    assert record["when"] == repr(object)
