"""The Kafka client layer: one small interface, one implementation per client library.

The sink (``cdcsink.sink``) only sees these protocols, so each client library
(aiokafka, the default; confluent-kafka, i.e. librdkafka) is one module behind
``kafka-client=...``, and routing, encoding and checkpointing do not know
which one runs. Errors reach the daemon as the client's own errors carrying a
``retriable`` flag (see :mod:`cdcsink.kafka.errors`):

- :class:`Factory` builds the three clients from :class:`KafkaOptions`.
- :class:`AdminClient` reads partition counts and configs, creates topics.
- :class:`AsyncProducer` sends row-change batches: ordered per partition
  (one request in flight per broker), fail-fast, one ack callback per batch.
- :class:`SyncProducer` sends DDL and watermark messages and awaits them,
  with bounded retries.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from cdcsink.kafka.options import KafkaOptions

AckCallback = Callable[[BaseException | None], None]
"""Called once per batch: None when Kafka acknowledged it, else the error."""


class ProducerBatch(Protocol):
    """Records for one topic-partition, built by the caller, sent as one unit."""

    def extend(self, messages: Sequence[tuple[bytes | None, bytes]], start: int) -> int:
        """Add ``messages[start:]`` in order until the batch is full; return how
        many were added. An empty batch always takes one record, however large
        (the broker judges its size), so every call on a new batch adds at least one."""
        ...

    def __len__(self) -> int: ...


class AdminClient(Protocol):
    async def partition_count(self, topic: str) -> int | None:
        """Partitions of ``topic``, or None when it does not exist."""
        ...

    async def topic_names(self) -> list[str]:
        """The names of the cluster's topics."""
        ...

    async def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        """Create ``topic``; a topic that already exists is not an error."""
        ...

    async def topic_config(self, topic: str) -> dict[str, str]:
        """The topic's configs (empty when the broker reports none)."""
        ...

    async def broker_config(self) -> dict[str, str]:
        """The configs of one broker of the cluster (empty when it reports none)."""
        ...

    async def close(self) -> None: ...


class AsyncProducer(Protocol):
    def new_batch(self) -> ProducerBatch: ...

    def is_idle(self, topic: str, partition: int) -> bool:
        """True when a batch handed over now would not wait behind another
        queued batch of the same partition (so waiting to fill it gains nothing)."""
        ...

    async def send_batch(self, batch: ProducerBatch, topic: str, partition: int, on_ack: AckCallback) -> None:
        """Queue ``batch``; returns once queued (waits while the partition's queue
        is full). ``on_ack`` runs when Kafka acknowledges or rejects it."""
        ...

    def inflight_requests(self) -> int:
        """Produce requests in flight now (for metrics)."""
        ...

    async def close(self) -> None:
        """Stop; batches not yet acknowledged are failed, never reported as acked."""
        ...


class SyncProducer(Protocol):
    async def send_message(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Send one message and wait for its ack, retrying retriable errors."""
        ...

    async def send_messages(self, topic: str, partitions: int, key: bytes | None, value: bytes) -> None:
        """Send the same message to every partition and wait for every ack."""
        ...

    async def close(self) -> None: ...


class Factory(Protocol):
    options: KafkaOptions

    async def admin_client(self) -> AdminClient: ...

    async def async_producer(self) -> AsyncProducer: ...

    async def sync_producer(self) -> SyncProducer: ...


#: ``kafka-client`` values, each with the extra that installs its library (None: always installed).
CLIENTS: dict[str, str | None] = {"aiokafka": None, "confluent": "confluent"}


def client_missing(client: str) -> str | None:
    """Why ``client`` cannot be used here (its library is not installed), or None."""
    if client == "confluent":
        try:
            import confluent_kafka  # noqa: F401
        except ImportError:
            return "kafka-client=confluent needs the confluent-kafka package: pip install 'cdcsink[confluent]'"
    return None


def new_factory(options: KafkaOptions) -> Factory:
    """The factory of the client library named by ``kafka-client``."""
    if options.client == "aiokafka":
        from cdcsink.kafka.aiokafka_client import AiokafkaFactory

        return AiokafkaFactory(options)
    if options.client == "confluent":
        missing = client_missing("confluent")
        if missing is not None:
            from cdcsink.errors import ConfigError

            raise ConfigError(f"sink.kafka-client: {missing}")
        from cdcsink.kafka.confluent import ConfluentFactory

        return ConfluentFactory(options)
    raise ValueError(f"kafka-client: unknown client {options.client!r}")
