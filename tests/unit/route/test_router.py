import pytest

from cdcsink.errors import ConfigError
from cdcsink.events import RowEvent
from cdcsink.route.config import DispatcherConfig
from cdcsink.route.router import Router


def d(**kw) -> DispatcherConfig:
    return DispatcherConfig(**kw)


def test_first_match_wins_and_default_rule_is_last():
    r = Router(
        [
            d(matcher=["shop.orders"], topic="orders", partition="ts"),
            d(matcher=["shop.*"], topic="{schema}_{table}", partition="index-value"),
        ],
        "cdc-default",
    )
    assert r.route("shop", "orders").topic == "orders"
    assert r.route("shop", "customers").topic == "shop_customers"
    assert r.route("billing", "invoices").topic == "cdc-default"
    e = RowEvent("shop", "orders", 11, "insert", ["id"], {"id": "int"}, None, {"id": 1})
    assert r.route("shop", "orders").partition(e, 4) == 11 % 4
    assert r.route("shop", "orders") is r.route("shop", "orders")  # cached


def test_dispatcher_without_topic_uses_default_topic():
    r = Router([d(matcher=["*.*"], partition="ts")], "dflt")
    assert r.route("a", "b").topic == "dflt"


def test_ddl_topics():
    r = Router([d(matcher=["shop.*"], topic="{schema}_{table}")], "cdc-default")
    assert r.ddl_topic("shop", "orders") == "shop_orders"
    assert r.ddl_topic("shop", None) == "cdc-default"


def test_bad_dispatchers_name_their_index():
    with pytest.raises(ConfigError, match=r"sink.dispatchers\[1\].topic: unknown placeholder \{db\}"):
        Router([d(matcher=["a.*"]), d(matcher=["b.*"], topic="{db}")], "x")
    with pytest.raises(ConfigError, match=r"sink.dispatchers\[0\].matcher 'nodot'"):
        Router([d(matcher=["nodot"])], "x")


def test_columns_partition_needs_columns():
    with pytest.raises(ValueError, match="columns: required"):
        d(matcher=["a.*"], partition="columns")
