"""`cdcsink checkpoint show` and `cdcsink checkpoint reset`."""

import json

import pytest

from cdcsink.checkpoint.lock import CheckpointLock
from cdcsink.cli import main


@pytest.fixture
def feed(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("CDCSINK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json")
    monkeypatch.setenv("CDCSINK_SOURCE__PATH", str(tmp_path / "in.ndjson"))
    monkeypatch.setenv("CDCSINK_CHECKPOINT__STORE", f"file://{tmp_path}/cp.json")
    return tmp_path / "cp.json"


def test_reset_moves_the_checkpoint_aside_and_show_prints_it(feed, capsys):
    assert main(["checkpoint", "show"]) == 0
    assert capsys.readouterr().out.startswith(f"{feed}: no checkpoint yet")
    feed.write_text('{"checkpoint_ts": 7, "position": null, "changefeed": "default"}')
    assert main(["checkpoint", "show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{feed}:\n") and json.loads(out.split("\n", 1)[1])["checkpoint_ts"] == 7
    assert main(["checkpoint", "reset"]) == 0
    assert "(checkpoint_ts 7, changefeed 'default') moved aside to cp.json.reset-" in capsys.readouterr().out
    assert not feed.exists()
    [aside] = feed.parent.glob("cp.json.reset-*")
    assert json.loads(aside.read_text())["checkpoint_ts"] == 7
    assert main(["checkpoint", "reset"]) == 0
    assert "no checkpoint to reset" in capsys.readouterr().out


def test_reset_is_refused_while_a_daemon_holds_the_checkpoint(feed, capsys):
    feed.write_text('{"checkpoint_ts": 7, "position": null, "changefeed": "default"}')
    with CheckpointLock(feed, "default"):
        assert main(["checkpoint", "reset"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"cdcsink: checkpoint.store: {feed} is in use by another cdcsink (pid ") and "\n" not in err
    assert feed.exists()


def test_a_kafka_sources_checkpoint_is_its_consumer_groups_offsets(feed, monkeypatch, capsys):
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "kafka")
    monkeypatch.setenv("CDCSINK_SOURCE__BOOTSTRAP", "k:9092")
    monkeypatch.setenv("CDCSINK_SOURCE__TOPICS", "in")
    monkeypatch.setenv("CDCSINK_SOURCE__GROUP", "g1")
    for action in ("show", "reset"):
        assert main(["checkpoint", action]) == 2
        err = capsys.readouterr().err
        assert f"checkpoint {action}: a kafka source's checkpoint is consumer group g1's committed offsets" in err
