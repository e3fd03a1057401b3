"""Topic checks at start (TiCDC's adjustOptions) and the topic manager, over a fake admin."""

from __future__ import annotations

import pytest

from cdcsink.errors import ConfigError
from cdcsink.kafka.topics import TopicManager, adjust_max_message_bytes, check_default_topic_partitions


class Admin:
    def __init__(self, topics: dict[str, int], topic_configs: dict[str, dict[str, str]] | None = None,
                 broker: dict[str, str] | None = None) -> None:
        self.topics = dict(topics)
        self.topic_configs = topic_configs or {}
        self.broker = broker or {}
        self.created: list[tuple[str, int, int]] = []

    async def partition_count(self, topic: str) -> int | None:
        return self.topics.get(topic)

    async def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        self.created.append((topic, partitions, replication_factor))
        self.topics[topic] = partitions

    async def topic_config(self, topic: str) -> dict[str, str]:
        return self.topic_configs.get(topic, {})

    async def broker_config(self) -> dict[str, str]:
        return self.broker


async def test_max_message_bytes_is_capped_by_the_topic_else_the_broker_never_raised():
    topic_limited = Admin({"t": 3}, {"t": {"max.message.bytes": "1000"}}, {"message.max.bytes": "5000"})
    assert await adjust_max_message_bytes(topic_limited, "t", 10_000) == 1000
    # A topic without its own limit (or not created yet): the broker's.
    assert await adjust_max_message_bytes(Admin({"t": 3}, broker={"message.max.bytes": "5000"}), "t", 10_000) == 5000
    assert await adjust_max_message_bytes(Admin({}, broker={"message.max.bytes": "5000"}), "t", 10_000) == 5000
    # Limits above the configured value never raise it; no limit reported leaves it as configured.
    assert await adjust_max_message_bytes(topic_limited, "t", 800) == 800
    assert await adjust_max_message_bytes(Admin({"t": 3}), "t", 10_000) == 10_000


async def test_partition_num_above_the_real_count_is_an_error_below_it_is_not():
    admin = Admin({"t": 3})
    with pytest.raises(ConfigError, match=r"sink.partition-num: 4 is more than the 3 partitions topic 't' has"):
        await check_default_topic_partitions(admin, "t", 4)
    await check_default_topic_partitions(admin, "t", 2)  # fewer: every partition is used, a warning only
    await check_default_topic_partitions(admin, "missing", 9)  # created later with 9


async def test_missing_topics_are_created_unless_auto_create_topic_is_false():
    admin = Admin({})
    topics = TopicManager(admin, auto_create=True, partition_num=None, replication_factor=2)
    assert await topics.partitions("new") == 3 and admin.created == [("new", 3, 2)]
    refusing = TopicManager(Admin({}), auto_create=False, partition_num=6, replication_factor=1)
    with pytest.raises(ConfigError, match="topic 'new' does not exist and auto-create-topic is false"):
        await refusing.partitions("new")
