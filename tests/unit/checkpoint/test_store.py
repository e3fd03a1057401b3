import json
import os

import pytest

from cdcsink.checkpoint.store import Checkpoint, FileCheckpointStore, open_store
from cdcsink.errors import ConfigError


def test_save_and_load_round_trip(tmp_path):
    store = FileCheckpointStore(tmp_path / "cp.json", changefeed="cf")
    assert store.load() is None
    store.save(Checkpoint(42, {"path": "a", "offset": 10, "line": 2}))
    loaded = store.load()
    assert loaded.checkpoint_ts == 42 and loaded.position == {"path": "a", "offset": 10, "line": 2}
    data = json.loads((tmp_path / "cp.json").read_text())
    assert data["changefeed"] == "cf"
    assert not (tmp_path / ".cp.json.tmp").exists()


def test_save_replaces_atomically(tmp_path, monkeypatch):
    store = FileCheckpointStore(tmp_path / "cp.json")
    store.save(Checkpoint(1))
    calls = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append((a, b)), real_replace(a, b)))
    store.save(Checkpoint(2))
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
    store.save(Checkpoint(7))

    def disk_full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(CdcsinkError) as info:
        store.save(Checkpoint(8))
    assert str(info.value).startswith(f"checkpoint.store: cannot write {tmp_path / 'cp.json'}: No space left on device")
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert store.load().checkpoint_ts == 7
