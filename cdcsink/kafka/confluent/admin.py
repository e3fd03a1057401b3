"""The confluent-kafka admin client: metadata, topic creation, configs.

Metadata is read with ``list_topics`` (blocking, so in a thread of its own); the
other calls return concurrent futures, awaited with ``asyncio.wrap_future``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Callable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from cdcsink.kafka.confluent.bridge import PollThread
from cdcsink.kafka.confluent.errors import client_error


def _in_own_thread(function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``function(*args)`` in a daemon thread of its own. Not the loop's default
    executor: a metadata request given up on (its broker is down) would hold the
    process's exit until its own timeout."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: tuple[bool, Any]) -> None:
        if not future.done():
            (future.set_result if outcome[0] else future.set_exception)(outcome[1])

    def run() -> None:
        try:
            outcome: tuple[bool, Any] = (True, function(*args))
        except BaseException as error:
            outcome = (False, error)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name="cdcsink-metadata", daemon=True).start()
    return future


class ConfluentAdminClient:
    def __init__(self, admin: AdminClient, poller: PollThread, timeout: float) -> None:
        self._admin = admin
        self._poller = poller
        self._timeout = timeout

    async def metadata(self) -> Any:
        """The cluster's metadata (every topic: asking for one topic may create it on some brokers)."""
        try:
            return await _in_own_thread(self._admin.list_topics, None, self._timeout)
        except KafkaException as error:
            raise client_error(error.args[0], "metadata") from None

    async def partition_count(self, topic: str) -> int | None:
        described = (await self.metadata()).topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            return None
        return len(described.partitions)

    async def topic_names(self) -> list[str]:
        return list((await self.metadata()).topics)

    async def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        futures = self._admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor)], request_timeout=self._timeout
        )
        try:
            await asyncio.wrap_future(futures[topic])
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise client_error(error.args[0], f"create topic {topic}") from None

    async def _configs(self, resource: ConfigResource) -> dict[str, str]:
        futures = self._admin.describe_configs([resource], request_timeout=self._timeout)
        try:
            entries = await asyncio.wrap_future(next(iter(futures.values())))
        except KafkaException as error:
            raise client_error(error.args[0], f"describe configs of {resource}") from None
        return {name: entry.value for name, entry in entries.items() if entry.value is not None}

    async def topic_config(self, topic: str) -> dict[str, str]:
        return await self._configs(ConfigResource(ResourceType.TOPIC, topic))

    async def broker_config(self) -> dict[str, str]:
        metadata = await self.metadata()
        node = metadata.controller_id
        if node is None or node < 0:
            node = min(metadata.brokers)
        return await self._configs(ConfigResource(ResourceType.BROKER, str(node)))

    async def close(self) -> None:
        """Stop polling and let the handle go (librdkafka destroys it with its last
        reference, which stops its threads and connections)."""
        await self._poller.stop()
        self._poller.handle = None
        self._admin = None  # type: ignore[assignment]
