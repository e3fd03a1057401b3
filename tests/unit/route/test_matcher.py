import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdcsink.errors import ConfigError
from cdcsink.route.matcher import TableMatcher


def test_star_and_question_mark():
    m = TableMatcher(["shop.*", "*.orders", "db?.t_?"])
    assert m.matches("shop", "anything")
    assert m.matches("billing", "orders")
    assert m.matches("db1", "t_2")
    assert not m.matches("shopping", "x")  # the whole name must match
    assert not m.matches("billing", "orders_old")
    assert not m.matches("db12", "t_2")
    assert not m.matches("db", "t_2")


def test_character_classes():
    m = TableMatcher(["db.t[0-3]", "logs.[!a-m]*"])
    assert m.matches("db", "t0") and m.matches("db", "t3")
    assert not m.matches("db", "t4")
    assert m.matches("logs", "zebra")
    assert not m.matches("logs", "apple")
    assert TableMatcher(["db.t[.]x"]).matches("db", "t.x")  # a '.' inside a class does not split


def test_case_insensitive_both_ways():
    assert TableMatcher(["Shop.Orders"]).matches("shop", "orders")
    assert TableMatcher(["shop.orders"]).matches("SHOP", "Orders")
    assert TableMatcher(["shop.t[a-c]"]).matches("shop", "TB")
    assert TableMatcher(['"Shop"."Orders"']).matches("SHOP", "orders")


def test_last_matching_rule_decides():
    m = TableMatcher(["shop.*", "!shop.tmp_*"])
    assert m.matches("shop", "orders")
    assert not m.matches("shop", "tmp_x")
    reordered = TableMatcher(["!shop.tmp_*", "shop.*"])
    assert reordered.matches("shop", "tmp_x")
    again = TableMatcher(["shop.*", "!shop.tmp_*", "shop.tmp_keep"])
    assert again.matches("shop", "tmp_keep")
    assert not again.matches("shop", "tmp_drop")


def test_unmatched_and_only_negative_rules_match_nothing():
    assert not TableMatcher(["shop.*"]).matches("billing", "orders")
    assert not TableMatcher(["!shop.tmp"]).matches("shop", "orders")


def test_schema_level_events_follow_tidb_match_schema():
    assert TableMatcher(["shop.*"]).matches("shop", None)
    assert TableMatcher(["shop.orders"]).matches("shop", None)
    assert not TableMatcher(["shop.orders"]).matches("billing", None)
    assert not TableMatcher(["*.*", "!shop.*"]).matches("shop", None)
    assert TableMatcher(["*.*", "!shop.tmp_*"]).matches("shop", None)
    assert not TableMatcher(["!shop.*", "shop.x"]).matches("shop", "y")


def test_quoted_escaped_and_regex_patterns():
    assert TableMatcher(['"my-db".*']).matches("my-db", "t")
    assert TableMatcher(["`a``b`.*"]).matches("a`b", "t")
    assert TableMatcher(['"a.b"."c"']).matches("a.b", "c")
    assert TableMatcher([r"my\-db.t\*"]).matches("my-db", "t*")
    assert not TableMatcher([r"my\-db.t\*"]).matches("my-db", "tx")
    assert not TableMatcher(['"t*".x']).matches("tab", "x")  # quoted: no wildcards
    regex = TableMatcher([r"/^shop_\d+$/.*"])
    assert regex.matches("SHOP_12", "t")
    assert not regex.matches("shop_x", "t")
    assert TableMatcher(["/hop/.*"]).matches("shop", "t")  # searched, not anchored (as in TiDB)
    assert TableMatcher(["$x_1é.*"]).matches("$X_1É", "t")


def test_comments_are_ignored():
    m = TableMatcher(["# orders only", "shop.orders"])
    assert m.matches("shop", "orders") and not m.matches("shop", "x")


@pytest.mark.parametrize(
    "rule, reason",
    [
        ("", "empty rule"),
        ("   ", "empty rule"),
        ("shop", "missing '.'"),
        (".orders", "missing pattern"),
        ("shop.", "missing pattern"),
        ("!", "missing pattern"),
        ("a.b.c", "after the table pattern"),
        ("shop.[ab", "character class"),
        ("shop.[]", "character class"),
        ("shop.[z-a]", "invalid pattern"),
        ("my-db.*", "unexpected character '-'"),
        (r"shop.\d", "cannot escape a letter"),
        ("shop.t\\", "cannot end with"),
        ('"shop.*', "quoted name"),
        ("/(/.*", "invalid regular expression"),
        ("/unterminated.*", "regular expression"),
        ("@rules.txt", "not supported"),
    ],
)
def test_invalid_rules_name_the_rule(rule, reason):
    with pytest.raises(ConfigError) as info:
        TableMatcher(["ok.*", rule])
    assert f"invalid filter rule {rule!r}" in str(info.value)
    assert reason in str(info.value)


def test_no_rules_is_an_error():
    for rules in ([], ["# just a comment"]):
        with pytest.raises(ConfigError, match="no filter rule"):
            TableMatcher(rules)


names = st.text(alphabet="abcAB_1", min_size=1, max_size=6)
patterns = st.text(alphabet="abAB_1*?", min_size=1, max_size=6)


@given(patterns, patterns, names, names)
def test_wildcards_agree_with_fnmatch(schema_pattern, table_pattern, schema, table):
    expected = fnmatch.fnmatchcase(schema.lower(), schema_pattern.lower()) and fnmatch.fnmatchcase(
        table.lower(), table_pattern.lower()
    )
    assert TableMatcher([f"{schema_pattern}.{table_pattern}"]).matches(schema, table) == expected
    assert TableMatcher([f"{schema_pattern}.{table_pattern}", f"!{schema}.{table}"]).matches(schema, table) is False
