import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdcsink.errors import ConfigError
from cdcsink.events import RowEvent
from cdcsink.route.partition import build_partitioner, value_text

ROOT = Path(__file__).resolve().parents[3]


def row(
    schema: str = "shop",
    table: str = "orders",
    values: dict | None = None,
    pk: list[str] | None = None,
    op: str = "insert",
    ts: int = 5,
    columns: dict | None = None,
) -> RowEvent:
    values = {"id": 1} if values is None else values
    pk = ["id"] if pk is None else pk
    columns = columns or {name: "int" for name in values}
    before, after = (values, None) if op == "delete" else (None, values)
    if op == "update":
        before = dict(values)
    return RowEvent(schema, table, ts, op, pk, columns, before, after)


# TiCDC's own test vectors (downstreamadapter/sink/eventrouter/partition/*_test.go):
# the same rows must land on the same partitions here.
@pytest.mark.parametrize(
    "table, values, pk, expected",
    [
        ("t1", {"a": 11, "b": 12}, ["a"], 2),
        ("t1", {"a": 22, "b": 22}, ["a"], 11),
        ("t1", {"a": 11, "b": 33}, ["a"], 2),
        ("t2", {"a": 11, "b": 22}, ["a", "b"], 5),
        ("t2", {"a": 11, "b": 22}, ["b", "a"], 5),
        ("t2", {"a": 11, "b": 0}, ["a", "b"], 14),
        ("t2", {"a": 11, "b": 33}, ["a", "b"], 2),
    ],
)
def test_index_value_matches_ticdc_vectors(table, values, pk, expected):
    assert build_partitioner("index-value", "test", table)(row("test", table, values, pk), 16) == expected


def test_ticdc_vectors_for_columns_and_tables_without_handle_key():
    event = row("test", "t1", {"col1": 22, "col2": 11, "col3": 33}, pk=[])
    assert build_partitioner("columns", "test", "t1", ["col2", "col1"])(event, 16) == 15
    assert build_partitioner("columns", "test", "t1", ["COL2", "Col1"])(event, 16) == 15
    assert build_partitioner("index-value", "test", "t1")(row("test", "t1", {"a": 11}, pk=[]), 3) == 0


# Written out once from the documented definition, so a change of hash function,
# encoding or separator breaks this test:
#   table:       crc32(b"shoporders") % n
#   index-value: (crc32(b"shoporders") ^ crc32(b"id42")) % 6 ...
#   columns:     (crc32(b"shoporders") ^ crc32(b"customer_id1001")) % 8 ...
@pytest.mark.parametrize(
    "kind, columns, event, n, expected",
    [
        ("table", None, row(values={"id": 1}), 7, 5),
        ("default", None, row(values={"id": 99}), 7, 5),
        ("table", None, row(values={"id": 1}), 12, 0),
        ("table", None, row("inventory", "items"), 5, 4),
        ("index-value", None, row(values={"id": 42}), 6, 2),
        ("index-value", None, row(values={"id": "abc-1"}), 6, 1),
        ("index-value", None, row(values={"id": 7, "region": "eu"}, pk=["id", "region"]), 10, 7),
        ("columns", ["customer_id"], row(values={"id": 1, "customer_id": 1001}), 8, 0),
        ("columns", ["region", "id"], row(values={"id": None, "region": "eu"}), 4, 2),
        ("ts", None, row(ts=449_000_000_000_017), 6, 449_000_000_000_017 % 6),
    ],
)
def test_documented_partitions(kind, columns, event, n, expected):
    assert build_partitioner(kind, event.schema, event.table, columns)(event, n) == expected


def test_documented_formula_by_hand():
    seed = zlib.crc32(b"shoporders")
    assert build_partitioner("index-value", "shop", "orders")(row(values={"id": 42}), 1000) == (seed ^ zlib.crc32(b"id42")) % 1000
    assert build_partitioner("table", "shop", "orders")(row(), 1000) == seed % 1000


@pytest.mark.parametrize(
    "a, b",
    [(42, "42"), (42, 42.0), (1, True), (0, False), (1e20, "100000000000000000000"), (1e-7, "0.0000001"),
     (9.5, "9.5"), (-0.0, "-0"), ({"b": 1, "a": [1, 2]}, {"a": [1, 2], "b": 1}), (None, "null")],
)
def test_one_logical_value_one_text(a, b):
    assert value_text(a) == value_text(b)
    p = build_partitioner("index-value", "shop", "orders")
    assert p(row(values={"id": a}), 1_000_003) == p(row(values={"id": b}), 1_000_003)


def test_value_texts():
    assert value_text("héllo") == "héllo".encode()
    assert value_text(123456789012345678901234567890) == b"123456789012345678901234567890"
    assert value_text(0.1) == b"0.1"
    assert value_text(2.5e-5) == b"0.000025"
    assert value_text({"b": 1, "a": None}) == b'{"a":null,"b":1}'
    assert value_text("9.90") != value_text(9.9)
    assert value_text(b"\x00\xffa") == b"\x00\xffa"  # a binary column's bytes, as TiCDC's string(v)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips_without_exponent(value):
    text = value_text(value).decode()
    assert "e" not in text.lower() and not text.endswith(".0")
    assert float(text) == value


def test_delete_and_update_hash_like_insert():
    p = build_partitioner("index-value", "shop", "orders")
    insert = p(row(values={"id": 9, "x": 1}), 1_000_003)
    assert p(row(values={"id": 9, "x": 2}, op="delete"), 1_000_003) == insert
    assert p(row(values={"id": 9, "x": 3}, op="update"), 1_000_003) == insert


def test_non_key_columns_do_not_matter_and_keys_do():
    p = build_partitioner("index-value", "shop", "orders")
    assert p(row(values={"id": 1, "x": 1}), 1_000_003) == p(row(values={"id": 1, "x": 2}), 1_000_003)
    assert p(row(values={"id": 1}), 1_000_003) != p(row(values={"id": 2}), 1_000_003)
    other = build_partitioner("index-value", "shop", "refunds")
    assert p(row(values={"id": 1}), 1_000_003) != other(row(table="refunds", values={"id": 1}), 1_000_003)


def test_table_without_handle_key_keeps_rows_together():
    p = build_partitioner("index-value", "shop", "logs")
    parts = {p(row(table="logs", values={"msg": str(i)}, pk=[]), 16) for i in range(50)}
    assert parts == {zlib.crc32(b"shoplogs") % 16}


def test_keys_spread_over_all_partitions():
    for values in ({"id": i} for i in range(1000)), ({"id": f"user-{i}"} for i in range(1000)):
        p = build_partitioner("index-value", "shop", "orders")
        counts = [0] * 6
        for v in values:
            counts[p(row(values=v), 6)] += 1
        assert min(counts) > 100, counts


def test_ts_partitioner_uses_commit_ts():
    p = build_partitioner("ts", "shop", "orders")
    assert [p(row(ts=ts), 4) for ts in (8, 9, 10, 11)] == [0, 1, 2, 3]


def test_columns_skip_nulls_and_ignore_other_columns():
    p = build_partitioner("columns", "shop", "orders", ["customer_id"])
    a = p(row(values={"id": 1, "customer_id": 7}), 1_000_003)
    assert p(row(values={"id": 2, "customer_id": 7}), 1_000_003) == a
    assert p(row(values={"id": 2, "customer_id": 8}), 1_000_003) != a
    assert p(row(values={"id": 3, "customer_id": None}), 1_000_003) == zlib.crc32(b"shoporders") % 1_000_003


def test_columns_missing_column_fails_on_first_use_naming_table_and_column():
    p = build_partitioner("columns", "shop", "orders", ["region", "nope"])
    event = row(values={"id": 1, "region": "eu"})
    with pytest.raises(ConfigError, match=r"shop\.orders has no column 'nope'"):
        p(event, 3)


def test_columns_follow_the_table_after_a_ddl():
    p = build_partitioner("columns", "shop", "orders", ["region"])
    before = p(row(values={"id": 1, "region": "eu"}), 1_000_003)
    renamed_case = row(values={"id": 1, "Region": "eu"}, columns={"id": "int", "Region": "varchar(8)"})
    assert p(renamed_case, 1_000_003) == before
    dropped = row(values={"id": 1}, columns={"id": "int"})
    with pytest.raises(ConfigError, match="no column 'region'"):
        p(dropped, 3)


def test_unknown_kind_and_empty_columns_are_config_errors():
    with pytest.raises(ConfigError, match="unknown partition 'random'"):
        build_partitioner("random", "a", "b")
    with pytest.raises(ConfigError, match="columns"):
        build_partitioner("columns", "a", "b", [])


COMPUTE = """
from cdcsink.events import RowEvent
from cdcsink.route.partition import build_partitioner


def compute():
    out = []
    for kind, cols in (("index-value", None), ("table", None), ("columns", ["name"])):
        for i in range(300):
            table = f"t{i % 7}"
            p = build_partitioner(kind, "shöp", table, cols)
            values = {"id": f"k{i}", "name": f"n{i}", "n": i}
            columns = {"id": "varchar", "name": "varchar", "n": "int"}
            out.append(str(p(RowEvent("shöp", table, i, "insert", ["id", "n"], columns, None, values), 13)))
    return ",".join(out)
"""


def test_stable_across_processes_and_hash_seeds():
    namespace: dict = {}
    exec(COMPUTE, namespace)
    here = namespace["compute"]()
    assert len(set(here.split(","))) == 13
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        script = COMPUTE + "\nprint(compute())\n"
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
        assert result.stdout.strip() == here


def test_an_update_that_changes_its_pk_is_routed_by_its_new_values():
    p = build_partitioner("index-value", "shop", "orders")
    moved = RowEvent("shop", "orders", 5, "update", ["id"], {"id": "int"}, {"id": 1}, {"id": 2})
    assert p(moved, 1_000_003) == p(row(values={"id": 2}), 1_000_003) != p(row(values={"id": 1}), 1_000_003)
