import os
import zlib

import pytest
from pydantic import ValidationError

from cdcsink.config import load_settings
from cdcsink.errors import ConfigError
from cdcsink.events import RowEvent
from cdcsink.route.config import DispatcherConfig
from cdcsink.route.router import Router


def d(**kw) -> DispatcherConfig:
    return DispatcherConfig(**kw)


def raw(**kw) -> DispatcherConfig:
    """A dispatcher that skipped validation (as a programmatic caller could build it)."""
    fields = {"topic": None, "partition": "default", "columns": [], "index": None, **kw}
    return DispatcherConfig.model_construct(**fields)


def event(schema="shop", table="orders", ts=11, values=None) -> RowEvent:
    values = values or {"id": 1, "customer_id": 7}
    return RowEvent(schema, table, ts, "insert", ["id"], {k: "int" for k in values}, None, values)


def test_first_match_wins_and_the_default_rule_is_last():
    r = Router(
        [
            d(matcher=["shop.orders"], topic="orders", partition="ts"),
            d(matcher=["shop.*"], topic="{schema}_{table}", partition="index-value"),
            d(matcher=["*.orders"], topic="all_orders"),
        ],
        "cdc-default",
    )
    orders = r.route("shop", "orders")
    assert (orders.topic, orders.rule) == ("orders", 0)
    assert orders.partition(event(ts=11), 4) == 11 % 4
    customers = r.route("shop", "customers")
    assert (customers.topic, customers.rule) == ("shop_customers", 1)
    assert r.route("billing", "orders").topic == "all_orders"
    fallback = r.route("billing", "invoices")
    assert (fallback.topic, fallback.rule) == ("cdc-default", None)
    assert fallback.partition(event("billing", "invoices"), 7) == zlib.crc32(b"billinginvoices") % 7


def test_negated_rule_falls_through_to_later_dispatchers():
    r = Router([d(matcher=["shop.*", "!shop.tmp_*"], topic="shop"), d(matcher=["*.*"], topic="rest")], "dflt")
    assert r.route("shop", "orders").topic == "shop"
    assert r.route("shop", "tmp_1").topic == "rest"
    assert r.route("SHOP", "Orders").topic == "shop"


def test_routes_are_cached_per_table():
    r = Router([d(matcher=["shop.*"], topic="{table}")], "dflt")
    first = r.route("shop", "orders")
    assert r.route("shop", "orders") is first
    assert r.route("shop", "refunds") is not first
    assert (first.schema, first.table) == ("shop", "orders")


def test_dispatcher_without_topic_uses_the_default_topic():
    r = Router([d(matcher=["*.*"], partition="ts"), d(matcher=["a.*"], topic="never")], "dflt")
    route = r.route("a", "b")
    assert route.topic == "dflt" and route.partition(event(ts=9), 4) == 1


def test_partition_kinds_are_wired():
    r = Router(
        [
            d(matcher=["shop.orders"], partition="columns", columns=["customer_id"]),
            d(matcher=["shop.refunds"], partition="index-value"),
        ],
        "dflt",
    )
    by_customer = r.route("shop", "orders").partition
    assert by_customer(event(values={"id": 1, "customer_id": 7}), 1_000_003) == by_customer(
        event(values={"id": 2, "customer_id": 7}), 1_000_003
    )
    by_pk = r.route("shop", "refunds").partition
    seed = zlib.crc32(b"shoprefunds")
    assert by_pk(event(table="refunds", values={"id": 5}), 1000) == (seed ^ zlib.crc32(b"id5")) % 1000


def test_ddl_topics():
    r = Router([d(matcher=["shop.*"], topic="{schema}_{table}"), d(matcher=["*.*"], topic="db_{schema}")], "cdc-default")
    assert r.ddl_topic("shop", "orders") == "shop_orders"
    assert r.ddl_topic("billing", "invoices") == "db_billing"
    assert r.ddl_topic("shop", None) == "cdc-default"
    assert r.ddl_topic("billing", None) == "cdc-default"  # even for a {schema}-only expression


@pytest.mark.parametrize(
    "dispatchers, message",
    [
        ([raw(matcher=["a.*"]), raw(matcher=["b.*"], topic="{db}")], r"sink\.dispatchers\[1\]\.topic: invalid topic expression '\{db\}'"),
        ([raw(matcher=["nodot"])], r"sink\.dispatchers\[0\]\.matcher: invalid filter rule 'nodot'"),
        ([raw(matcher=["a.*"]), raw(matcher=["a.*", "a.[x"])], r"sink\.dispatchers\[1\]\.matcher: invalid filter rule 'a\.\[x'"),
        ([raw(matcher=["a.*"], partition="columns")], r"sink\.dispatchers\[0\]\.partition: .*columns"),
        ([raw(matcher=["a.*"], partition="random")], r"sink\.dispatchers\[0\]\.partition: unknown partition 'random'"),
    ],
)
def test_bad_dispatchers_name_their_index(dispatchers, message):
    with pytest.raises(ConfigError, match=message):
        Router(dispatchers, "x")


@pytest.mark.parametrize("topic", ["", "a b", "..", "x" * 250])
def test_bad_default_topic(topic):
    with pytest.raises(ConfigError, match="sink.uri: default topic"):
        Router([], topic)


def test_dispatcher_config_validation():
    assert d(matcher=["a.*"], topic="").topic is None
    assert d(matcher=["a.*"], partition="RowID").partition == "index-value"
    assert d(matcher=["a.*"], partition="TS").partition == "ts"
    bad = [
        ({"matcher": []}, "matcher"),
        ({"matcher": ["nodot"]}, "invalid filter rule 'nodot'"),
        ({"matcher": ["a.*"], "topic": "{db}"}, "unknown placeholder"),
        ({"matcher": ["a.*"], "partition": "random"}, "partition"),
        ({"matcher": ["a.*"], "partition": "columns"}, "columns: required"),
        ({"matcher": ["a.*"], "partition": "columns", "columns": ["a", "A"]}, "listed twice"),
        ({"matcher": ["a.*"], "partition": "columns", "columns": [" "]}, "cannot be empty"),
        ({"matcher": ["a.*"], "columns": ["a"]}, "only used with partition: columns"),
        ({"matcher": ["a.*"], "index": "uk"}, "named-index dispatch is not supported"),
        # Never silently hashed by the pk instead, which would put rows where TiCDC would not.
        ({"matcher": ["a.*"], "partition": "index-value", "index": "uk_email"}, "use partition: columns"),
        ({"matcher": ["a.*"], "dispatcher": "ts"}, "dispatcher"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValidationError, match=message):
            DispatcherConfig(**kwargs)


def test_config_file_errors_name_the_line(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("CDCSINK_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "cdcsink.yaml"
    path.write_text(
        "source:\n  type: stdin\n"
        "sink:\n  uri: kafka://k:9092/cdc?protocol=canal-json\n  dispatchers:\n"
        "    - matcher: [\"shop.*\"]\n"
        "    - matcher: [\"my-db.*\"]\n"
        "      topic: \"{schema}\"\n"
    )
    with pytest.raises(ConfigError, match=r"cdcsink\.yaml:\d+: sink\.dispatchers\[1\]\.matcher: invalid filter rule 'my-db\.\*'"):
        load_settings(path)
