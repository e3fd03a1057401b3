import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdcsink.errors import ConfigError
from cdcsink.route.topic import MAX_TOPIC_LENGTH, TopicExpression, sanitize_topic, topic_name_problem


def test_fixed_names_are_used_as_written():
    expr = TopicExpression("cdc.orders-v1_x")
    assert expr.fixed == "cdc.orders-v1_x"
    assert expr.substitute("a", "b") == "cdc.orders-v1_x"
    assert expr.substitute("a", None) == "cdc.orders-v1_x"


def test_placeholders_are_substituted():
    expr = TopicExpression("cdc_{schema}.{table}-v1")
    assert expr.fixed is None and expr.uses_table
    assert expr.substitute("shop", "orders") == "cdc_shop.orders-v1"
    assert TopicExpression("{table}_{schema}_{table}").substitute("s", "t") == "t_s_t"
    assert TopicExpression("{schema}").substitute("Shop", "orders") == "Shop"  # case is kept


def test_substituted_names_are_sanitized():
    expr = TopicExpression("cdc_{schema}_{table}")
    assert expr.substitute("my shop", "ord€rs/2") == "cdc_my_shop_ord_rs_2"
    assert expr.substitute("a$b", "日本") == "cdc_a_b___"


def test_length_is_capped_at_249():
    topic = TopicExpression("cdc_{table}").substitute("s", "x" * 400)
    assert len(topic) == MAX_TOPIC_LENGTH == 249
    assert topic == "cdc_" + "x" * 245


def test_dot_names_become_underscores():
    assert TopicExpression("{schema}").substitute(".", "t") == "_"
    assert TopicExpression("{schema}").substitute("..", "t") == "__"
    assert TopicExpression("{schema}").substitute("...", "t") == "..."
    assert sanitize_topic(".") == "_" and sanitize_topic("..") == "__"


def test_table_placeholder_needs_a_table():
    with pytest.raises(ValueError, match="needs a table"):
        TopicExpression("{schema}_{table}").substitute("shop", None)
    assert TopicExpression("cdc_{schema}").substitute("shop", None) == "cdc_shop"


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("{db}_{table}", "unknown placeholder {db}"),
        ("{Schema}", "unknown placeholder {Schema}"),
        ("{column:id}", "not supported"),
        ("cdc_{schema", "unclosed"),
        ("cdc}{schema}", "characters Kafka does not allow"),
        ("my topic", "characters Kafka does not allow"),
        ("cdc/{table}", "characters Kafka does not allow"),
        ("{{schema}}", "unknown placeholder"),
        ("", "empty"),
        (".", "not a valid topic name"),
        ("..", "not a valid topic name"),
        ("x" * 250, "longer than 249"),
    ],
)
def test_invalid_expressions(bad, reason):
    with pytest.raises(ConfigError) as info:
        TopicExpression(bad)
    assert reason in str(info.value)


def test_topic_name_problem():
    assert topic_name_problem("cdc-default") is None
    assert topic_name_problem("x" * 249) is None
    for bad in ("", ".", "..", "a b", "x" * 250, "{schema}"):
        assert topic_name_problem(bad)


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_every_substitution_is_a_legal_topic(schema, table):
    for expression in ("p.{schema}-{table}", "{table}"):
        topic = TopicExpression(expression).substitute(schema, table)
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic)
        assert topic_name_problem(topic) is None
