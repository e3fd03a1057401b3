"""The aiokafka implementation of the client layer (the default ``kafka-client``).

Ordering: aiokafka's sender keeps at most one produce request in flight per
broker and puts a retried batch back at the head of its partition's queue, so
batches of one partition are written in the order they were handed over,
retries included. Idempotence stays off (it needs an ACL and is not needed
for order with one request in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.abc import AbstractTokenProvider
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnsupportedSaslMechanismError,
)
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import TopicPartition

from cdcsink.kafka import AckCallback
from cdcsink.errors import AuthenticationError, ConfigError
from cdcsink.kafka.options import RECORD_BATCH_OVERHEAD, KafkaOptions, SecurityOptions
from cdcsink.kafka.errors import is_retriable, register_checks, tls_refusal, with_retries
from cdcsink.kafka.reachability import unreachable
from cdcsink.kafka.tls import TlsFileError, tls_context

__all__ = ["AiokafkaFactory", "is_retriable", "security_kwargs", "unreachable"]

_COMPRESSION = {"none": None, "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}
_TOPIC_ALREADY_EXISTS = 36
_NO_HEADERS: list[tuple[str, bytes]] = []  # the record writer wants a list


#: SASL errors that repeat on every attempt: wrong credentials, a mechanism the broker does not offer.
_SASL_REFUSALS = (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError, AuthenticationFailedError)


def _sasl_refusal(error: BaseException) -> str | None:
    return f"SASL authentication failed: {error}" if isinstance(error, _SASL_REFUSALS) else None


def _timeout_is_retriable(error: BaseException) -> bool | None:
    # aiokafka's own timeout error does not say it is retriable; it is.
    return True if isinstance(error, KafkaTimeoutError) else None


register_checks(_sasl_refusal, _timeout_is_retriable)


def _common(options: KafkaOptions) -> dict[str, Any]:
    return {
        "bootstrap_servers": options.brokers,
        "client_id": options.client_id,
        "request_timeout_ms": int(max(options.read_timeout, options.write_timeout) * 1000),
        "connections_max_idle_ms": 540_000,
        **security_kwargs(options.security),
    }


def security_kwargs(security: SecurityOptions) -> dict[str, Any]:
    """aiokafka's connection settings for TLS and SASL."""
    kwargs: dict[str, Any] = {"security_protocol": security.protocol}
    if security.tls:
        kwargs["ssl_context"] = _tls_context(security)
    if security.sasl_mechanism:
        kwargs["sasl_mechanism"] = security.sasl_mechanism
        if security.sasl_mechanism == "OAUTHBEARER":
            kwargs["sasl_oauth_token_provider"] = FileTokenProvider(security.oauth_token_file or "")
        else:
            kwargs["sasl_plain_username"] = security.sasl_user
            kwargs["sasl_plain_password"] = security.sasl_password
    return kwargs


def _tls_context(security: SecurityOptions) -> ssl.SSLContext:
    try:
        return tls_context(security.ca, security.cert, security.key, security.insecure_skip_verify)
    except TlsFileError as error:  # changed since the config was checked
        raise ConfigError(f"{security.where}.{error}") from None


class FileTokenProvider(AbstractTokenProvider):
    """OAUTHBEARER: the token is the content of a file, read for every new connection."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def token(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as error:
            raise ConfigError(f"sink.sasl-oauth-token-file: cannot read {self.path}: {error.strerror}") from None


async def diagnose_connection(options: KafkaOptions, brokers: list[str] | None = None) -> BaseException | None:
    """Why the brokers (default: the bootstrap ones) refuse us, when the client
    only says it could not connect: connect to each the way the client does and
    return the first authentication or TLS error as a fatal one-line
    :class:`AuthenticationError`."""
    security = options.security
    kwargs = security_kwargs(security)
    for broker in brokers or options.brokers:
        host, _, port = broker.rpartition(":")
        if security.tls:
            refusal = await asyncio.to_thread(_tls_refusal, host, int(port), kwargs["ssl_context"])
            if refusal is not None:
                return AuthenticationError(f"kafka {broker}: {refusal}")
        try:
            conn = await create_conn(
                host, int(port), client_id=options.client_id,
                request_timeout_ms=int(max(options.read_timeout, options.write_timeout) * 1000), **kwargs,
            )
        except UnsupportedSaslMechanismError:
            return AuthenticationError(f"kafka {broker}: the broker does not offer SASL {security.sasl_mechanism}")
        except (SaslAuthenticationFailed, IllegalSaslStateError) as error:
            who = f" for user {security.sasl_user!r}" if security.sasl_user else ""
            return AuthenticationError(f"kafka {broker}: SASL {security.sasl_mechanism} authentication failed{who}: {error}")
        except ConfigError as error:
            return error
        except Exception:
            continue
        conn.close()
    return None


def _tls_refusal(host: str, port: int, context: ssl.SSLContext, timeout: float = 3.0) -> str | None:
    """Why a TLS session with the broker is refused, if it is. A blocking probe:
    with TLS 1.3 the server judges the client certificate after the handshake
    and says so in an alert that asyncio's transport turns into a plain EOF."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.settimeout(timeout)
                tls.recv(1)  # an alert arrives here; a healthy broker just stays silent
    except ssl.SSLError as error:
        return tls_refusal(error)  # None: the connection went away, may pass next time
    except OSError:
        return None
    return None


async def _close(client: AIOKafkaAdminClient | AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())


def _producer_kwargs(options: KafkaOptions, *, batch_bytes: int) -> dict[str, Any]:
    return {
        **_common(options),
        "acks": "all" if options.required_acks == -1 else options.required_acks,
        "compression_type": _COMPRESSION[options.compression],
        "max_batch_size": batch_bytes,
        # A single record may be as large as the cap; the client must not refuse it.
        "max_request_size": options.max_message_bytes + 4096,
        "linger_ms": 0,
        "enable_idempotence": False,
        "retry_backoff_ms": 100,
    }


class AiokafkaBatch:
    """A record batch for one topic-partition (aiokafka's BatchBuilder).

    Records go straight to the builder's compiled record writer: aiokafka's
    ``BatchBuilder.append`` wrapper costs more than the write itself, per record.
    """

    __slots__ = ("builder", "count")

    def __init__(self, builder: BatchBuilder) -> None:
        self.builder = builder
        self.count = 0

    def extend(self, messages: Sequence[tuple[bytes | None, bytes]], start: int) -> int:
        builder = self.builder
        write = builder._builder.append
        count = self.count
        for i in range(start, len(messages)):
            key, value = messages[i]
            if write(count, None, key, value, _NO_HEADERS) is None:  # full; None: the current time
                builder.close()
                break
            count += 1
        added = count - self.count
        # The builder's own record count, which the client reads.
        self.count = builder._relative_offset = count
        return added

    def __len__(self) -> int:
        return self.count


class AiokafkaAsyncProducer:
    """DML producer: whole batches per partition, one ack callback per batch.

    Fail-fast fence: aiokafka retries a failed batch in place, but once a batch
    has failed for good (its time is up), it would go on to send the batches
    queued behind it, and a later batch could land while the failed one never
    does: the per-key order would break. So the first failed batch fails every
    batch still queued, before the client's sender can take the next one, and
    no batch is accepted afterwards.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._accumulator = producer._message_accumulator
        self._tps: dict[tuple[str, int], TopicPartition] = {}
        self._fenced: BaseException | None = None

    def new_batch(self) -> AiokafkaBatch:
        return AiokafkaBatch(self._producer.create_batch())

    def is_idle(self, topic: str, partition: int) -> bool:
        tp = self._tps.get((topic, partition))
        if tp is None:
            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        return not self._accumulator._batches.get(tp)

    def inflight_requests(self) -> int:
        return len(self._producer._sender._in_flight)

    async def send_batch(self, batch: AiokafkaBatch, topic: str, partition: int, on_ack: AckCallback) -> None:
        if self._fenced is not None:
            on_ack(self._fenced)
            return
        future = await self._producer.send_batch(batch.builder, topic, partition=partition)

        def done(fut: asyncio.Future) -> None:
            error = fut.exception() if not fut.cancelled() else asyncio.CancelledError("batch cancelled")
            if error is not None and self._fenced is None:
                self._fence(error)
            on_ack(error)

        future.add_done_callback(done)

    def _fence(self, error: BaseException) -> None:
        # Runs in the failed batch's done callback, which the event loop runs
        # before the client's sender task resumes to drain the next batches.
        self._fenced = KafkaError(f"not sent: an earlier batch failed ({type(error).__name__}: {error})")
        queued = self._accumulator._batches
        for batches in queued.values():
            for waiting in batches:
                waiting.failure(self._fenced)
                # The client sets the batch's drain waiter failed too, and nothing
                # awaits it: retrieved here, or asyncio logs each as never retrieved.
                drained = getattr(waiting, "_drain_waiter", None)
                if drained is not None and drained.done() and not drained.cancelled():
                    drained.exception()
        queued.clear()

    async def close(self) -> None:
        await self._producer.stop()


class AiokafkaSyncProducer:
    """DDL/checkpoint producer: awaits every ack, retries retriable errors with backoff."""

    def __init__(self, producer: AIOKafkaProducer, max_retry: int) -> None:
        self._producer = producer
        self._max_retry = max_retry

    async def _send_with_retry(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        async def send_once() -> None:
            await self._producer.send_and_wait(topic, value, key=key, partition=partition, headers=headers)

        await with_retries(send_once, self._max_retry)

    async def send_message(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self._send_with_retry(topic, partition, key, value, headers)

    async def send_messages(self, topic: str, partitions: int, key: bytes | None, value: bytes) -> None:
        await asyncio.gather(*(self._send_with_retry(topic, p, key, value) for p in range(partitions)))

    async def close(self) -> None:
        await self._producer.stop()


class AiokafkaAdminClient:
    def __init__(self, admin: AIOKafkaAdminClient) -> None:
        self._admin = admin

    async def partition_count(self, topic: str) -> int | None:
        # Listing first: describing a missing topic auto-creates it on some brokers.
        if topic not in await self._admin.list_topics():
            return None
        (described,) = await self._admin.describe_topics([topic])
        if described["error_code"]:
            return None
        return len(described["partitions"])

    async def topic_names(self) -> list[str]:
        return list(await self._admin.list_topics())

    async def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        try:
            response = await self._admin.create_topics([NewTopic(topic, partitions, replication_factor)])
        except TopicAlreadyExistsError:
            return
        for _name, code, message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise KafkaError(f"create topic {topic}: error {code} {message or ''}".strip())

    async def _configs(self, resource: ConfigResource) -> dict[str, str]:
        # Ask for every config of the resource: some brokers drop the connection
        # on a describe filtered by name.
        responses = await self._admin.describe_configs([resource])
        configs: dict[str, str] = {}
        for response in responses:
            for res in response.resources:
                for entry in res[4]:
                    configs[entry[0]] = entry[1]
        return configs

    async def topic_config(self, topic: str) -> dict[str, str]:
        return await self._configs(ConfigResource(ConfigResourceType.TOPIC, topic))

    async def broker_config(self) -> dict[str, str]:
        cluster = await self._admin.describe_cluster()
        node = cluster.get("controller_id")
        if node is None or node < 0:
            node = cluster["brokers"][0]["node_id"]
        return await self._configs(ConfigResource(ConfigResourceType.BROKER, str(node)))

    async def close(self) -> None:
        await self._admin.close()


class AiokafkaFactory:
    def __init__(self, options: KafkaOptions) -> None:
        self.options = options

    @property
    def _secured(self) -> bool:
        return self.options.security.tls or bool(self.options.security.sasl_mechanism)

    async def _start(self, client: Any) -> None:
        try:
            await client.start()
        except KafkaConnectionError:
            await _close(client)
            if self._secured:
                fatal = await diagnose_connection(self.options)
                if fatal is not None:
                    raise fatal from None
            where = "kafka" if self.options.security.where == "sink" else f"kafka {self.options.security.where}"
            raise await unreachable(self.options.brokers, where) from None

    async def _check_advertised_brokers(self, admin: AIOKafkaAdminClient) -> None:
        """Connect to every broker the metadata names and stop on a TLS or SASL
        refusal. The bootstrap addresses passing proves nothing about these (a
        certificate may name the one but not the other); aiokafka would only
        report the brokers as not ready, a retriable error, after every restart."""
        client = admin._client
        brokers = sorted(client.cluster.brokers())
        ready = await asyncio.gather(*(client.ready(broker.nodeId) for broker in brokers))
        failed = [f"{broker.host}:{broker.port}" for broker, ok in zip(brokers, ready) if not ok]
        if failed:
            fatal = await diagnose_connection(self.options, failed)
            if fatal is not None:
                await _close(admin)
                raise fatal

    async def admin_client(self) -> AiokafkaAdminClient:
        admin = AIOKafkaAdminClient(**_common(self.options))
        await self._start(admin)
        if self._secured:
            await self._check_advertised_brokers(admin)
        return AiokafkaAdminClient(admin)

    async def async_producer(self) -> AiokafkaAsyncProducer:
        producer = AIOKafkaProducer(**_producer_kwargs(self.options, batch_bytes=self.options.batch_bytes))
        await self._start(producer)
        return AiokafkaAsyncProducer(producer)

    async def sync_producer(self) -> AiokafkaSyncProducer:
        batch = max(16 * 1024, self.options.max_message_bytes - RECORD_BATCH_OVERHEAD)
        producer = AIOKafkaProducer(**_producer_kwargs(self.options, batch_bytes=batch))
        await self._start(producer)
        return AiokafkaSyncProducer(producer, self.options.max_retry)
