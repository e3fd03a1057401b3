import pytest

from cdcsink.errors import ConfigError
from cdcsink.route.topic import MAX_TOPIC_LENGTH, TopicExpression, sanitize_topic


def test_substitution_and_sanitizing():
    expr = TopicExpression("cdc_{schema}.{table}")
    assert expr.substitute("shop", "orders") == "cdc_shop.orders"
    assert expr.substitute("my shop", "ord€rs") == "cdc_my_shop.ord_rs"
    assert TopicExpression("fixed-topic").substitute("a", "b") == "fixed-topic"


def test_length_cap_and_reserved_names():
    assert len(TopicExpression("{table}").substitute("s", "x" * 400)) == MAX_TOPIC_LENGTH
    assert sanitize_topic("..") == "__" and sanitize_topic("") == "_"


@pytest.mark.parametrize("bad", ["{db}_{table}", "{schema", "", "  "])
def test_invalid_expressions(bad):
    with pytest.raises(ConfigError):
        TopicExpression(bad)


def test_table_expression_needs_a_table():
    with pytest.raises(ValueError):
        TopicExpression("{schema}_{table}").substitute("shop", None)
