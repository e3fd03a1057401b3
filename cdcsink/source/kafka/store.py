"""The checkpoint store of a kafka source: the consumer group's committed offsets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdcsink.checkpoint.store import Checkpoint

if TYPE_CHECKING:
    from cdcsink.source.kafka import KafkaSource


class ConsumerGroupStore:
    """The checkpoint store of a Kafka source: the group's committed offsets.

    ``load`` has nothing to give (the consumer starts from the committed offsets
    by itself); ``save`` commits the checkpoint's position, one offset per input
    partition, each covering only acknowledged events.
    """

    def __init__(self, source: "KafkaSource") -> None:
        self.source = source
        self.description = f"kafka consumer group {source.config.group}"

    def load(self) -> Checkpoint | None:
        return None

    def check_writable(self) -> None:
        pass

    async def save(self, checkpoint: Checkpoint) -> bool:
        return await self.source.commit(checkpoint.position or {})
