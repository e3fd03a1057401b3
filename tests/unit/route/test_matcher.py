import pytest

from cdcsink.errors import ConfigError
from cdcsink.route.matcher import TableMatcher


def test_wildcards_and_case_insensitivity():
    m = TableMatcher(["shop.*", "*.orders", "db?.t[0-3]"])
    assert m.matches("shop", "anything")
    assert m.matches("SHOP", "Anything")
    assert m.matches("billing", "orders")
    assert m.matches("db1", "t2")
    assert not m.matches("db12", "t2")
    assert not m.matches("db1", "t4")
    assert not m.matches("billing", "order_items")


def test_last_matching_rule_decides():
    m = TableMatcher(["shop.*", "!shop.tmp_*"])
    assert m.matches("shop", "orders")
    assert not m.matches("shop", "tmp_x")
    again = TableMatcher(["shop.*", "!shop.tmp_*", "shop.tmp_keep"])
    assert again.matches("shop", "tmp_keep")
    assert not again.matches("shop", "tmp_drop")


def test_schema_level_events_match_table_star_rules_only():
    assert TableMatcher(["shop.*"]).matches("shop", None)
    assert not TableMatcher(["shop.orders"]).matches("shop", None)


@pytest.mark.parametrize("rule", ["shop", ".orders", "shop.", "shop.[ab"])
def test_invalid_rules_are_config_errors(rule):
    with pytest.raises(ConfigError, match="matcher"):
        TableMatcher([rule])
