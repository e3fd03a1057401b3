"""librdkafka's errors as :class:`~cdcsink.kafka.errors.KafkaClientError`.

librdkafka's own classification, mapped to cdcsink's:

- a **fatal** error (``KafkaError.fatal()``, e.g. the idempotent producer's
  gapless guarantee tripped, an out-of-order sequence) leaves the producer
  unusable and says the cluster refused what the run did: not retriable, the
  daemon exits with one line;
- a TLS or SASL **refusal** (``_AUTHENTICATION``, a certificate refused in
  ``_SSL``, Kafka's authentication and authorization errors): not
  retriable, named as a refusal;
- **retriable**: librdkafka's local transient codes (transport, timeouts,
  all brokers down, name resolution, a purge after an earlier failure) and
  the Kafka error codes the protocol marks retriable (leader moved, not
  enough replicas, ...; the table aiokafka keeps of Kafka's codes);
- anything else (a message too large, an invalid request): not retriable.
"""

from __future__ import annotations

import re

from aiokafka.errors import for_code
from confluent_kafka import KafkaError

from cdcsink.kafka.errors import TLS_REFUSALS, KafkaClientError

#: librdkafka's local codes after which a new run may succeed.
_LOCAL_RETRIABLE = frozenset({
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT_QUEUE, KafkaError._RESOLVE, KafkaError._QUEUE_FULL, KafkaError._UNKNOWN_PARTITION,
    KafkaError._UNKNOWN_TOPIC, KafkaError._NODE_UPDATE, KafkaError._WAIT_COORD, KafkaError._DESTROY,
    KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT,
})
#: Kafka's codes that mean the credentials or the certificate were refused.
_REFUSED = {
    KafkaError.SASL_AUTHENTICATION_FAILED: "SASL authentication failed",
    KafkaError.UNSUPPORTED_SASL_MECHANISM: "the broker does not offer the SASL mechanism",
    KafkaError.ILLEGAL_SASL_STATE: "SASL authentication failed",
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "not authorized for the topic",
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: "not authorized by the cluster",
}
_SSL_REASON = re.compile(r"(certificate verify failed[^)]*\)?|[a-z ]*alert [a-z ]+|handshake failure|no shared cipher|unsupported protocol|wrong version number)", re.IGNORECASE)
#: ``sasl_ssl://host:port/id: `` before librdkafka's reason.
_BROKER = re.compile(r"^(?:[a-z_]+://)?([^\s/]+:\d+)/\S*: ")


def refusal(error: KafkaError) -> str | None:
    """The TLS or SASL refusal ``error`` says, or None."""
    code, text = error.code(), error.str()
    if code == KafkaError._AUTHENTICATION:
        return f"SASL authentication failed: {_without_broker(text)}"
    if code == KafkaError._SSL:
        upper = text.upper().replace(" ", "_")
        if "CERTIFICATE_VERIFY_FAILED" in upper:
            return f"TLS certificate verification failed: {_ssl_reason(text)}"
        if any(word in upper for word in TLS_REFUSALS) or "ALERT" in upper:
            return f"TLS handshake failed: {_ssl_reason(text)}"
        return None
    if code in _REFUSED:
        return f"{_REFUSED[code]}: {_without_broker(text)}"
    return None


def is_retriable(error: KafkaError) -> bool:
    code = error.code()
    if error.fatal() or refusal(error) is not None:
        return False
    if code in _LOCAL_RETRIABLE or error.retriable():
        return True
    return code >= 0 and bool(for_code(code).retriable)


def client_error(error: KafkaError, context: str = "") -> KafkaClientError:
    """``error`` in cdcsink's terms; ``context`` (``topic t partition 0``) goes before its text."""
    text = error.str() or error.name()
    if error.fatal():
        text = f"fatal: {text}"
    return KafkaClientError(
        f"{context + ': ' if context else ''}{error.name()}: {text}",
        name=error.name(),
        retriable=is_retriable(error),
        refusal=refusal(error),
    )


def broker_of(error: KafkaError) -> str | None:
    """The ``host:port`` librdkafka names at the start of an error's text, if any."""
    match = _BROKER.match(error.str())
    return match.group(1) if match else None


def _without_broker(text: str) -> str:
    return _BROKER.sub("", text, count=1)


def _ssl_reason(text: str) -> str:
    match = _SSL_REASON.search(text)
    return match.group(1) if match else _without_broker(text)
