"""The ``source:`` keys of a kafka source."""

import pytest
from pydantic import ValidationError

from cdcsink.source.config import SourceConfig


def test_a_kafka_source_takes_lists_from_comma_strings():
    config = SourceConfig(type="kafka", bootstrap="a:9092, b:9092", topics="in1,in2", group="g")
    assert config.bootstrap == ["a:9092", "b:9092"] and config.topics == ["in1", "in2"]
    assert config.revoke_timeout == 30.0 and config.session_timeout == 10.0


def test_an_empty_topics_value_means_none_so_a_pattern_can_take_over():
    # e.g. CDCSINK_SOURCE__TOPICS="" left in an environment that sets TOPIC_PATTERN
    config = SourceConfig(type="kafka", bootstrap="a:9092", topics="", topic_pattern="in.*", group="g")
    assert config.topics == [] and config.topic_pattern == "in.*"


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"topics": "in", "group": "g"}, "bootstrap: required"),
        ({"bootstrap": "a:1", "topics": "in"}, "group: required"),
        ({"bootstrap": "a:1", "group": "g"}, "topics or topic-pattern"),
        ({"bootstrap": "a:1", "group": "g", "topics": "in", "topic-pattern": "in.*"}, "topics or topic-pattern"),
        ({"bootstrap": "a:1", "group": "g", "topic-pattern": "in(["}, "topic-pattern: not a regular expression"),
        ({"bootstrap": "a:1", "group": "g", "topics": "in", "sasl-mechanism": "PLAIN"}, "sasl-user: required"),
        ({"bootstrap": "a:1", "group": "g", "topics": "in", "cert": "/nonexistent.pem", "key": "/k.pem"}, "cert: /nonexistent.pem: no such file"),
    ],
)
def test_a_kafka_source_refuses_incomplete_settings(keys, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace("[", r"\[")):
        SourceConfig(type="kafka", **keys)
