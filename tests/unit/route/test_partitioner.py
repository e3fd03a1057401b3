import os
import subprocess
import sys
import zlib

import orjson
import pytest

from cdcsink.errors import ConfigError
from cdcsink.events import RowEvent
from cdcsink.route.partition import build_partitioner


def row(pk: int, ts: int = 5, op: str = "insert", extra: dict | None = None) -> RowEvent:
    image = {"id": pk, "region": "eu", **(extra or {})}
    before, after = (image, None) if op == "delete" else (None, image)
    return RowEvent("shop", "orders", ts, op, ["id"], {"id": "bigint", "region": "varchar(8)"}, before, after)


def test_documented_hashes():
    # The canonical encoding is part of the contract: a change here moves keys between partitions.
    assert build_partitioner("table", "shop", "orders", [])(row(1), 7) == zlib.crc32(b"shop\x00orders") % 7
    seed = zlib.crc32(b"shop\x00orders")
    expected = zlib.crc32(b"\x00" + orjson.dumps(42), seed) % 6
    assert build_partitioner("index-value", "shop", "orders", [])(row(42), 6) == expected
    cols = zlib.crc32(b"\x00" + orjson.dumps("eu"), seed) % 6
    assert build_partitioner("columns", "shop", "orders", ["region"])(row(42), 6) == cols
    assert build_partitioner("ts", "shop", "orders", [])(row(1, ts=17), 6) == 17 % 6
    assert build_partitioner("default", "shop", "orders", [])(row(1), 7) == zlib.crc32(b"shop\x00orders") % 7


def test_delete_uses_the_before_image():
    p = build_partitioner("index-value", "shop", "orders", [])
    assert p(row(9, op="delete"), 6) == p(row(9), 6)


def test_keys_spread_over_all_partitions():
    p = build_partitioner("index-value", "shop", "orders", [])
    used = {p(row(i), 6) for i in range(1000)}
    assert used == set(range(6))


def test_missing_column_names_table_and_column():
    p = build_partitioner("columns", "shop", "orders", ["nope"])
    with pytest.raises(ConfigError, match=r"shop.orders has no column 'nope'"):
        p(row(1), 3)


SCRIPT = """
import sys
from cdcsink.events import RowEvent
from cdcsink.route.partition import build_partitioner
p = build_partitioner("index-value", "shop", "orders", [])
t = build_partitioner("table", "shop", "orders", [])
out = []
for i in range(200):
    e = RowEvent("shop", "orders", 1, "insert", ["id"], {"id": "bigint"}, None, {"id": i})
    out.append(f"{p(e, 7)}{t(e, 7)}")
print("".join(out))
"""


def test_stable_across_processes_and_hash_seeds():
    results = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
        results.add(out.stdout.strip())
    p = build_partitioner("index-value", "shop", "orders", [])
    t = build_partitioner("table", "shop", "orders", [])
    here = "".join(
        f"{p(e, 7)}{t(e, 7)}"
        for e in (RowEvent("shop", "orders", 1, "insert", ["id"], {"id": "bigint"}, None, {"id": i}) for i in range(200))
    )
    assert results == {here}
