"""The confluent-kafka (librdkafka) implementation of the client layer
(``kafka-client=confluent``; needs the ``confluent`` extra).

- :mod:`.config`: the options as librdkafka properties; ``client-conf`` checks.
- :mod:`.producer`: row batches (idempotent, one callback per batch, fenced on
  the first failure) and awaited DDL/watermark messages.
- :mod:`.admin`: metadata, topic creation, configs.
- :mod:`.bridge`: the poll thread handing librdkafka's callbacks to asyncio.
- :mod:`.errors`: librdkafka's errors in cdcsink's terms.
- :mod:`.stats`: librdkafka's statistics, for metrics.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from cdcsink.errors import AuthenticationError, ConfigError
from cdcsink.kafka.confluent.admin import ConfluentAdminClient
from cdcsink.kafka.confluent.bridge import PollThread
from cdcsink.kafka.confluent.config import OAUTH_TOKEN_LIFETIME, LibrdkafkaLogger, Role, librdkafka_config, request_timeout
from cdcsink.kafka.confluent.errors import broker_of, refusal
from cdcsink.kafka.confluent.producer import ConfluentAsyncProducer, ConfluentBatch, ConfluentSyncProducer
from cdcsink.kafka.options import KafkaOptions
from cdcsink.kafka.reachability import unreachable

__all__ = ["ConfluentAdminClient", "ConfluentAsyncProducer", "ConfluentBatch", "ConfluentFactory", "ConfluentSyncProducer"]


class FileToken:
    """OAUTHBEARER: librdkafka's ``oauth_cb``; the token is the file's content,
    read again whenever librdkafka refreshes it (every minute or so)."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where

    def __call__(self, config: str) -> tuple[str, float, str, dict[str, str]]:
        try:
            with open(self.path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as error:
            raise ConfigError(f"{self.where}.sasl-oauth-token-file: cannot read {self.path}: {error.strerror}") from None
        return token, time.time() + OAUTH_TOKEN_LIFETIME, "cdcsink", {}


class ConfluentFactory:
    def __init__(self, options: KafkaOptions) -> None:
        self.options = options

    @property
    def _secured(self) -> bool:
        return self.options.security.tls or bool(self.options.security.sasl_mechanism)

    def _conf(self, role: Role, on_error: Callable[[KafkaError], None], **callbacks: Any) -> dict[str, Any]:
        conf = librdkafka_config(self.options, role)
        conf["logger"] = LibrdkafkaLogger()
        conf["error_cb"] = on_error
        security = self.options.security
        if security.sasl_mechanism == "OAUTHBEARER":
            conf["oauth_cb"] = FileToken(security.oauth_token_file or "", security.where)
        conf.update(callbacks)
        return conf

    def _build(self, kind: type, conf: dict[str, Any]) -> Any:
        try:
            return kind(conf)
        except KafkaException as error:
            raise ConfigError(f"{self.options.security.where}: librdkafka refused the configuration: {error.args[0].str()}") from None

    async def admin_client(self) -> ConfluentAdminClient:
        """The admin client, once the cluster answered its metadata request; a
        broker that cannot be reached or that refuses TLS or SASL is one line."""
        loop = asyncio.get_running_loop()
        refused: asyncio.Future[KafkaError] = loop.create_future()
        #: Every bootstrap broker refused the connection or did not resolve: no need
        #: to wait for the metadata request's timeout.
        down: asyncio.Future[KafkaError] = loop.create_future()

        def on_error(error: KafkaError) -> None:  # in the poll thread
            if refusal(error) is not None:
                poller.call_in_loop(lambda e: refused.done() or refused.set_result(e), error)
            elif error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
                poller.call_in_loop(lambda e: down.done() or down.set_result(e), error)

        admin = self._build(AdminClient, self._conf("admin", on_error))
        poller = PollThread(admin, "cdcsink-admin-poll", loop, on_error=on_error)
        poller.start()  # after the assignment: on_error refers to it
        client = ConfluentAdminClient(admin, poller, request_timeout(self.options))
        metadata = asyncio.ensure_future(client.metadata())
        try:
            await asyncio.wait({metadata, refused, down}, return_when=asyncio.FIRST_COMPLETED)
            if refused.done():
                metadata.cancel()
                raise await self._refusal(refused.result())
            found = None
            if not metadata.done():
                metadata.cancel()  # every bootstrap broker is down
            elif metadata.exception() is None:
                found = metadata.result()
            if found is None:
                if self._secured:
                    from cdcsink.kafka.aiokafka_client import diagnose_connection

                    fatal = await diagnose_connection(self.options)
                    if fatal is not None:
                        raise fatal from None
                where = "kafka" if self.options.security.where == "sink" else f"kafka {self.options.security.where}"
                raise await unreachable(self.options.brokers, where)
            if self._secured:
                await self._check_advertised_brokers([f"{b.host}:{b.port}" for b in found.brokers.values()])
        except BaseException:
            await client.close()
            raise
        return client

    async def _refusal(self, error: KafkaError) -> AuthenticationError:
        """The refusal librdkafka reported, as one line naming the broker: in the
        words a probe connection finds (the same for both clients), else librdkafka's."""
        from cdcsink.kafka.aiokafka_client import diagnose_connection

        broker = broker_of(error)
        fatal = await diagnose_connection(self.options, [broker] if broker else None)
        if isinstance(fatal, AuthenticationError):
            return fatal
        return AuthenticationError(f"kafka {broker or ','.join(self.options.brokers)}: {refusal(error)}")

    async def _check_advertised_brokers(self, brokers: list[str]) -> None:
        """The bootstrap addresses passing proves nothing about the brokers the
        metadata names (a certificate may name one and not the other): probe them."""
        from cdcsink.kafka.aiokafka_client import diagnose_connection

        fatal = await diagnose_connection(self.options, [b for b in brokers if b not in self.options.brokers])
        if fatal is not None:
            raise fatal

    async def async_producer(self) -> ConfluentAsyncProducer:
        loop = asyncio.get_running_loop()
        holder: list[ConfluentAsyncProducer] = []
        conf = self._conf(
            "rows",
            lambda error: holder[0].on_error(error),
            stats_cb=lambda text: holder[0].on_statistics(text),
        )
        producer = self._build(Producer, conf)
        poller = PollThread(producer, "cdcsink-rows-poll", loop, on_error=conf["error_cb"])
        holder.append(ConfluentAsyncProducer(
            producer, poller, batch_bytes=self.options.batch_bytes, timeout=request_timeout(self.options)
        ))
        poller.start()
        return holder[0]

    async def sync_producer(self) -> ConfluentSyncProducer:
        loop = asyncio.get_running_loop()
        holder: list[ConfluentSyncProducer] = []
        conf = self._conf("control", lambda error: holder[0].on_error(error))
        producer = self._build(Producer, conf)
        poller = PollThread(producer, "cdcsink-control-poll", loop, on_error=conf["error_cb"])
        holder.append(ConfluentSyncProducer(producer, poller, self.options.max_retry))
        poller.start()
        return holder[0]
