import json
import os

import pytest

from cdcsink.checkpoint.store import Checkpoint, FileCheckpointStore, open_store
from cdcsink.errors import ConfigError


def test_save_and_load_round_trip(tmp_path):
    store = FileCheckpointStore(tmp_path / "cp.json", changefeed="cf")
    assert store.load() is None
    store.write(Checkpoint(42, {"path": "a", "offset": 10, "line": 2}))
    loaded = store.load()
    assert loaded.checkpoint_ts == 42 and loaded.position == {"path": "a", "offset": 10, "line": 2}
    data = json.loads((tmp_path / "cp.json").read_text())
    assert data["changefeed"] == "cf"
    assert not (tmp_path / ".cp.json.tmp").exists()


def test_save_replaces_atomically(tmp_path, monkeypatch):
    store = FileCheckpointStore(tmp_path / "cp.json")
    store.write(Checkpoint(1))
    calls = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append((a, b)), real_replace(a, b)))
    store.write(Checkpoint(2))
    assert calls and str(calls[0][1]).endswith("cp.json")
    assert store.load().checkpoint_ts == 2


def test_a_durable_replace_syncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    from cdcsink.durable import replace_durably

    calls: list[str] = []
    real_write, real_fsync, real_replace = os.write, os.fsync, os.replace
    monkeypatch.setattr(os, "write", lambda fd, data: (calls.append("write"), real_write(fd, bytes(data)[:3]))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync dir" if "replace" in calls else "fsync file"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b)))
    replace_durably(tmp_path / "f.json", b"0123456789")
    # Writes that take only part of the payload are continued until all of it is written.
    assert calls == ["write"] * 4 + ["fsync file", "replace", "fsync dir"]
    assert (tmp_path / "f.json").read_bytes() == b"0123456789"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_corrupt_file_is_a_one_line_error(tmp_path):
    (tmp_path / "cp.json").write_text("{nope")
    with pytest.raises(ConfigError, match=r"cp.json is not a checkpoint file"):
        FileCheckpointStore(tmp_path / "cp.json").load()


def test_open_store_uris(tmp_path):
    assert isinstance(open_store(f"file://{tmp_path}/x.json"), FileCheckpointStore)
    assert open_store(f"file://{tmp_path}/x.json").path == tmp_path / "x.json"
    assert open_store("rel/cp.json").path.as_posix() == "rel/cp.json"
    with pytest.raises(ConfigError, match="unsupported scheme s3://"):
        open_store("s3://bucket/cp.json")


def test_store_under_a_file_is_reported(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ConfigError, match="cannot create"):
        FileCheckpointStore(tmp_path / "plain" / "cp.json").check_writable()


def test_a_failed_write_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from cdcsink.errors import CdcsinkError

    store = FileCheckpointStore(tmp_path / "cp.json")
    store.write(Checkpoint(7))

    def disk_full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(CdcsinkError) as info:
        store.write(Checkpoint(8))
    assert str(info.value).startswith(f"checkpoint.store: cannot write {tmp_path / 'cp.json'}: No space left on device")
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert store.load().checkpoint_ts == 7


# -- whose checkpoint it is ---------------------------------------------------------

from cdcsink.checkpoint.owner import Owner  # noqa: E402
from cdcsink.checkpoint.store import default_store_path, store_path  # noqa: E402

FEED = Owner("orders", "file:/data/orders.ndjson", "cdc-orders", ("k1:9092", "k2:9092"))


def test_a_checkpoint_records_its_owner(tmp_path):
    FileCheckpointStore(tmp_path / "cp.json", owner=FEED).write(Checkpoint(5, {"path": "/data/orders.ndjson", "offset": 9, "line": 1}))
    data = json.loads((tmp_path / "cp.json").read_text())
    assert data["changefeed"] == "orders" and data["source"] == "file:/data/orders.ndjson"
    assert data["sink"] == {"topic": "cdc-orders", "brokers": ["k1:9092", "k2:9092"]}
    assert FileCheckpointStore(tmp_path / "cp.json", owner=FEED).load().checkpoint_ts == 5


@pytest.mark.parametrize(
    "other, stored, configured",
    [
        (Owner("users", FEED.source, FEED.topic, FEED.brokers), "changefeed: stored 'orders'", "configured 'users'"),
        (Owner("orders", "file:/data/users.ndjson", FEED.topic, FEED.brokers),
         "source: stored 'file:/data/orders.ndjson'", "configured 'file:/data/users.ndjson'"),
        (Owner("orders", "stdin", FEED.topic, FEED.brokers), "source: stored 'file:/data/orders.ndjson'", "configured 'stdin'"),
        (Owner("orders", FEED.source, "cdc-users", FEED.brokers), "sink topic: stored 'cdc-orders'", "configured 'cdc-users'"),
        (Owner("orders", FEED.source, FEED.topic, ("other:9092",)), "sink brokers: stored 'k1:9092,k2:9092'", "configured 'other:9092'"),
    ],
    ids=["changefeed", "source", "source-type", "topic", "cluster"],
)
def test_another_feeds_checkpoint_is_refused_in_one_line_naming_both(tmp_path, other, stored, configured):
    FileCheckpointStore(tmp_path / "cp.json", owner=FEED).write(Checkpoint(5, {"path": "/data/orders.ndjson", "offset": 9, "line": 1}))
    with pytest.raises(ConfigError) as info:
        FileCheckpointStore(tmp_path / "cp.json", owner=other).load()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"checkpoint.store: {tmp_path / 'cp.json'} is another feed's checkpoint")
    assert stored in message and configured in message
    assert "cdcsink checkpoint reset" in message


def test_two_feeds_of_one_name_are_told_to_take_names_of_their_own(tmp_path):
    """Two feeds left at one changefeed name (the default, say) share its default
    checkpoint: the first advice is a name of their own, as a reset would send the
    other feed's input again."""
    FileCheckpointStore(tmp_path / "cp.json", owner=FEED).write(Checkpoint(5))
    other = Owner("orders", "file:/data/users.ndjson", FEED.topic, FEED.brokers)
    with pytest.raises(ConfigError) as info:
        FileCheckpointStore(tmp_path / "cp.json", owner=other).load()
    message = str(info.value)
    assert "another feed of the same changefeed name 'orders': give this feed a changefeed name of its own" in message
    assert message.index("changefeed name of its own") < message.index("cdcsink checkpoint reset")


def test_a_broker_list_sharing_an_address_is_the_same_cluster(tmp_path):
    FileCheckpointStore(tmp_path / "cp.json", owner=FEED).write(Checkpoint(5))
    grown = Owner("orders", FEED.source, FEED.topic, ("K2:9092", "k3:9092"))
    assert FileCheckpointStore(tmp_path / "cp.json", owner=grown).load().checkpoint_ts == 5


def test_an_older_checkpoint_of_another_changefeed_is_refused(tmp_path):
    """Checkpoints always recorded their changefeed; it was never compared."""
    (tmp_path / "cp.json").write_text('{"checkpoint_ts": 9, "position": {"path": "a", "offset": 3, "line": 1}, "changefeed": "default"}')
    with pytest.raises(ConfigError, match="changefeed: stored 'default', configured 'other'"):
        FileCheckpointStore(tmp_path / "cp.json", changefeed="other").load()
    with pytest.raises(ConfigError, match="changefeed: stored 'default', configured 'orders'"):
        FileCheckpointStore(tmp_path / "cp.json", owner=FEED).load()


def test_an_older_checkpoint_without_source_and_sink_is_adopted_with_a_warning(tmp_path):
    from structlog.testing import capture_logs

    (tmp_path / "cp.json").write_text('{"checkpoint_ts": 9, "position": null, "changefeed": "orders", "updated_at_ms": 1}')
    store = FileCheckpointStore(tmp_path / "cp.json", owner=FEED)
    with capture_logs() as logs:
        assert store.load().checkpoint_ts == 9
    assert [entry["log_level"] for entry in logs] == ["warning"] and "adopting it" in logs[0]["event"]
    store.write(Checkpoint(10))
    with capture_logs() as logs:
        assert store.load().checkpoint_ts == 10
    assert logs == []  # the owner is recorded now


def test_the_default_store_is_per_changefeed_in_the_state_directory_not_the_working_directory():
    assert default_store_path("orders", {"XDG_STATE_HOME": "/st", "HOME": "/h"}, "linux").as_posix() == "/st/cdcsink/orders/checkpoint.json"
    assert default_store_path("orders", {"HOME": "/h"}, "linux").as_posix() == "/h/.local/state/cdcsink/orders/checkpoint.json"
    assert default_store_path("orders", {"XDG_STATE_HOME": "relative", "HOME": "/h"}, "linux").as_posix() == (
        "/h/.local/state/cdcsink/orders/checkpoint.json"  # XDG: a relative value is ignored
    )
    assert default_store_path("orders", {"HOME": "/Users/a"}, "darwin").as_posix() == (
        "/Users/a/Library/Application Support/cdcsink/orders/checkpoint.json"
    )
    # A changefeed name cannot leave the directory.
    assert default_store_path("../x/y", {"HOME": "/h"}, "linux").parent.name == ".._x_y"
    assert default_store_path("..", {"HOME": "/h"}, "linux").parent.name == "__"
    assert store_path(None, "orders").is_absolute()
    assert open_store(None, owner=FEED).path.parent.name == "orders"


def test_the_setting_defaults_to_the_state_directory(monkeypatch, tmp_path):
    from cdcsink.config import Settings

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    settings = Settings(sink={"uri": "kafka://k:9092/t?protocol=canal-json"}, changefeed="feed-a", source={"type": "stdin"})
    assert store_path(settings.checkpoint.store, settings.changefeed) == tmp_path / "cdcsink" / "feed-a" / "checkpoint.json"
