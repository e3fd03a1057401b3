"""Topic manager and option adjustment (TiCDC's topicmanager and adjustOptions)."""

from __future__ import annotations

import asyncio
from typing import Callable

import structlog

from cdcsink.errors import ConfigError
from cdcsink.kafka import AdminClient

log = structlog.get_logger("cdcsink.kafka.topics")

DEFAULT_PARTITIONS = 3


class TopicManager:
    """Knows the partition count of every topic written to; creates missing ones."""

    def __init__(
        self,
        admin: AdminClient,
        *,
        auto_create: bool,
        partition_num: int | None,
        replication_factor: int,
        visible_timeout: float = 10.0,
    ) -> None:
        self._admin = admin
        self._auto_create = auto_create
        self._partition_num = partition_num
        self._replication_factor = replication_factor
        self._visible_timeout = visible_timeout
        self._counts: dict[str, int] = {}
        #: Called with each topic the first time its partition count is known.
        self.on_new_topic: Callable[[str], object] | None = None
        #: Topics this manager created, with their partition counts, in order.
        self.created: dict[str, int] = {}

    @property
    def topics(self) -> dict[str, int]:
        """Every topic resolved so far, with its partition count."""
        return self._counts

    def cached(self, topic: str) -> int | None:
        return self._counts.get(topic)

    async def partitions(self, topic: str) -> int:
        """The partition count of ``topic``, creating the topic when it is missing."""
        count = self._counts.get(topic)
        if count is not None:
            return count
        count = await self._admin.partition_count(topic)
        if count is None:
            if not self._auto_create:
                raise ConfigError(f"topic {topic!r} does not exist and auto-create-topic is false")
            partitions = self._partition_num or DEFAULT_PARTITIONS
            await self._admin.create_topic(topic, partitions, self._replication_factor)
            count = await self._wait_visible(topic)
            self.created[topic] = count
            log.info("topic created", topic=topic, partitions=count, replication_factor=self._replication_factor)
        self._counts[topic] = count
        if self.on_new_topic is not None:
            self.on_new_topic(topic)
        return count

    async def _wait_visible(self, topic: str) -> int:
        deadline = asyncio.get_running_loop().time() + self._visible_timeout
        while True:
            count = await self._admin.partition_count(topic)
            if count:
                return count
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"topic {topic!r} was created but did not become visible in {self._visible_timeout}s")
            await asyncio.sleep(0.1)


async def adjust_max_message_bytes(admin: AdminClient, topic: str, configured: int) -> int:
    """The effective max-message-bytes: the configured value, capped by the
    topic's ``max.message.bytes`` when the topic exists, else by the broker's
    ``message.max.bytes``. A broker that reports neither leaves it as configured."""
    limit_source = None
    limit: int | None = None
    if await admin.partition_count(topic) is not None:
        value = (await admin.topic_config(topic)).get("max.message.bytes")
        if value:
            limit, limit_source = int(value), f"topic {topic} max.message.bytes"
    if limit is None:
        value = (await admin.broker_config()).get("message.max.bytes")
        if value:
            limit, limit_source = int(value), "broker message.max.bytes"
    if limit is not None and limit < configured:
        log.warning(
            "max-message-bytes lowered to the Kafka limit",
            configured=configured,
            effective=limit,
            limit_source=limit_source,
        )
        return limit
    return configured


async def check_default_topic_partitions(admin: AdminClient, topic: str, partition_num: int | None) -> None:
    """partition-num above the default topic's real count is an error; below only warns."""
    if partition_num is None:
        return
    real = await admin.partition_count(topic)
    if real is None:
        return
    if partition_num > real:
        raise ConfigError(
            f"sink.partition-num: {partition_num} is more than the {real} partitions topic {topic!r} has"
        )
    if partition_num < real:
        log.warning(
            "partition-num is less than the topic's partition count; all partitions are used",
            topic=topic,
            partition_num=partition_num,
            partitions=real,
        )
