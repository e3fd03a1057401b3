"""The sink's options as librdkafka properties, and the checks of ``sink.client-conf``.

Three handles are built from the same options: the admin client, the row
(DML) producer and the control (DDL and watermark) producer. The row producer
is idempotent with librdkafka's gapless guarantee and no local message
timeout, which is what keeps a failed batch's successors out of Kafka (see
:mod:`cdcsink.kafka.confluent.producer`); ``client-conf`` may tune it but not
undo that.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, Mapping

from cdcsink.kafka.options import RECORD_BATCH_OVERHEAD, KafkaOptions, SecurityOptions, property_value

Role = Literal["admin", "rows", "control"]

#: How often the row producer reports its statistics by default (ms); 0 turns them off.
STATISTICS_INTERVAL_MS = 5000
#: How long the row producer waits to fill a request (librdkafka's linger.ms).
LINGER_MS = 2
#: Messages librdkafka may hold (queued and in flight); the sink's max-inflight-messages bounds it first.
QUEUE_MESSAGES = 1_000_000
#: Produce requests in flight per broker connection: the most idempotence keeps in order.
MAX_IN_FLIGHT = 5
#: OAUTHBEARER: how long a token read from the file is used before it is read again (seconds).
OAUTH_TOKEN_LIFETIME = 60.0

#: The levels confluent-kafka gives librdkafka's lines, one step quieter: what
#: librdkafka calls an error (a refused connection) it retries, and cdcsink
#: reports what it gives up on itself.
_QUIETER = {logging.CRITICAL: logging.ERROR, logging.ERROR: logging.WARNING}


class LibrdkafkaLogger(logging.Logger):
    """librdkafka's log lines, under ``cdcsink.kafka.librdkafka``; ``CONFWARN``
    lines about properties cdcsink set on purpose are dropped."""

    def __init__(self) -> None:
        super().__init__("cdcsink.kafka.librdkafka")
        self.parent = logging.getLogger("cdcsink.kafka")
        #: CONFWARN lines kept by :func:`client_conf_problems` (None: not kept).
        self.confwarn: list[str] | None = None

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        text = (msg % args) if args else str(msg)
        if "CONFWARN" in text:
            if self.confwarn is not None:
                self.confwarn.append(text)
            if "enable.gapless.guarantee is experimental" in text:
                return
        super().log(_QUIETER.get(level, level), text)


#: client-conf keys that sink settings set: give the setting instead (one source of truth).
SET_BY_SETTINGS: dict[str, str] = {
    "bootstrap.servers": "the sink URI's brokers",
    "metadata.broker.list": "the sink URI's brokers",
    "client.id": "sink.kafka-client-id",
    "acks": "sink.required-acks",
    "request.required.acks": "sink.required-acks",
    "compression.type": "sink.compression",
    "compression.codec": "sink.compression",
    "message.max.bytes": "sink.max-message-bytes",
    "socket.connection.setup.timeout.ms": "sink.dial-timeout",
    "socket.timeout.ms": "sink.read-timeout / sink.write-timeout",
    "request.timeout.ms": "sink.read-timeout / sink.write-timeout",
    "security.protocol": "sink.enable-tls / sink.sasl-mechanism",
    "ssl.ca.location": "sink.ca",
    "ssl.certificate.location": "sink.cert",
    "ssl.key.location": "sink.key",
    "enable.ssl.certificate.verification": "sink.insecure-skip-verify",
    "ssl.endpoint.identification.algorithm": "sink.insecure-skip-verify",
    "sasl.mechanism": "sink.sasl-mechanism",
    "sasl.mechanisms": "sink.sasl-mechanism",
    "sasl.username": "sink.sasl-user",
    "sasl.password": "sink.sasl-password",
}

#: client-conf keys refused because they would break the delivery contract.
BREAKS_ORDERING: dict[str, str] = {
    "enable.idempotence": "the row producer must stay idempotent: it is what keeps a later batch of a partition from landing after a failed one",
    "enable.gapless.guarantee": "must stay true: without it a batch failing for good could leave a gap that later batches fill",
    "message.timeout.ms": "librdkafka drops timed-out messages and goes on with later ones (a gap); sink.write-timeout bounds delivery instead",
    "delivery.timeout.ms": "librdkafka drops timed-out messages and goes on with later ones (a gap); sink.write-timeout bounds delivery instead",
    "transactional.id": "transactions are not used: acknowledgements move the checkpoint",
    "delivery.report.only.error": "acknowledgements come from delivery reports: they cannot be turned off",
    "dr_cb": "set by cdcsink (delivery reports are its acknowledgements)",
    "dr_msg_cb": "set by cdcsink (delivery reports are its acknowledgements)",
    "on_delivery": "set by cdcsink (delivery reports are its acknowledgements)",
    "error_cb": "set by cdcsink (errors stop the run)",
    "stats_cb": "set by cdcsink (statistics become metrics)",
    "oauth_cb": "set by cdcsink (sink.sasl-oauth-token-file)",
    "logger": "set by cdcsink (librdkafka logs go to cdcsink's log)",
}


def _ms(seconds: float, low: int = 1, high: int = 2_147_483_647) -> int:
    return max(low, min(high, int(seconds * 1000)))


def request_timeout(options: KafkaOptions) -> float:
    """Seconds a request (and, for rows, a partition without any ack) may take: the larger of read/write-timeout."""
    return max(options.read_timeout, options.write_timeout)


def security_config(security: SecurityOptions) -> dict[str, Any]:
    """librdkafka's TLS and SASL properties (the OAUTHBEARER callback is added by the client)."""
    conf: dict[str, Any] = {"security.protocol": security.protocol.lower()}
    if security.tls:
        # Without a ca, the system's CAs, found where OpenSSL builds usually keep them.
        conf["ssl.ca.location"] = security.ca or "probe"
        if security.cert and security.key:
            conf["ssl.certificate.location"] = security.cert
            conf["ssl.key.location"] = security.key
        if security.insecure_skip_verify:
            conf["enable.ssl.certificate.verification"] = False
            conf["ssl.endpoint.identification.algorithm"] = "none"
        else:
            conf["ssl.endpoint.identification.algorithm"] = "https"
    if security.sasl_mechanism:
        conf["sasl.mechanisms"] = security.sasl_mechanism
        if security.sasl_mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            conf["sasl.username"] = security.sasl_user or ""
            conf["sasl.password"] = security.sasl_password or ""
    return conf


def librdkafka_config(options: KafkaOptions, role: Role) -> dict[str, Any]:
    """The properties of one handle; ``client-conf`` goes over cdcsink's own
    choices (linger.ms, batch.size, ...), never over what its checks refuse."""
    timeout = request_timeout(options)
    conf: dict[str, Any] = {
        "bootstrap.servers": ",".join(options.brokers),
        "client.id": options.client_id,
        # dial-timeout: TCP connect plus the TLS and SASL handshakes (librdkafka's floor is 1s).
        "socket.connection.setup.timeout.ms": _ms(options.dial_timeout, low=1000),
        "socket.timeout.ms": _ms(timeout, low=10, high=300_000),
        **security_config(options.security),
    }
    if role != "admin":
        conf.update({
            "acks": "all" if options.required_acks == -1 else str(options.required_acks),
            "compression.type": options.compression,
            "message.max.bytes": max(1000, options.max_message_bytes),
            "batch.size": max(1000, min(1_000_000, options.max_message_bytes - RECORD_BATCH_OVERHEAD)),
            "request.timeout.ms": _ms(timeout, high=900_000),
        })
    if role == "rows":
        conf.update({
            "enable.idempotence": True,
            "enable.gapless.guarantee": True,
            "max.in.flight.requests.per.connection": MAX_IN_FLIGHT,
            "message.timeout.ms": 0,  # never time a message out inside librdkafka; see BREAKS_ORDERING
            "linger.ms": LINGER_MS,
            "queue.buffering.max.messages": QUEUE_MESSAGES,
            "statistics.interval.ms": STATISTICS_INTERVAL_MS,
        })
    elif role == "control":
        conf.update({
            "enable.idempotence": False,
            "linger.ms": 0,
            # Awaited one by one and retried by cdcsink (max-retry): bounded here.
            "message.timeout.ms": _ms(timeout),
        })
    conf.update(options.client_conf)
    if role != "rows":
        conf.pop("statistics.interval.ms", None)  # only the row producer's become metrics
    return conf


def refused(key: str) -> str | None:
    """Why ``key`` may not be given in client-conf, or None."""
    if key in SET_BY_SETTINGS:
        return f"set by {SET_BY_SETTINGS[key]}; give that instead"
    if key in BREAKS_ORDERING:
        return f"refused: {BREAKS_ORDERING[key]}"
    return None


_QUOTED = re.compile(r"[\"`]([a-z0-9_.]+)[\"`]")


def client_conf_problems(client_conf: Mapping[str, object], options: KafkaOptions | None = None) -> list[str]:
    """Every problem with ``client_conf``, one line each, ``<key>: <reason>``:
    keys refused above, and what librdkafka itself refuses when the row
    producer is built with it (an unknown property, a bad value, a consumer
    property, or a combination it does not allow). Builds throwaway handles
    (no connection is made); needs confluent-kafka."""
    from confluent_kafka import KafkaException, Producer

    base = librdkafka_config(options or KafkaOptions(brokers=[]), "rows")
    del base["bootstrap.servers"]  # no broker: the throwaway handles connect nowhere
    problems: list[str] = []
    accepted: dict[str, str] = {}

    def build(extra: Mapping[str, str]) -> tuple[str | None, list[str]]:
        logger = LibrdkafkaLogger()
        logger.confwarn = []
        conf = {**base, **extra, "logger": logger}
        try:
            Producer(conf).poll(0)  # the logger's lines come through poll()
        except KafkaException as error:
            return error.args[0].str(), logger.confwarn
        except (TypeError, ValueError) as error:
            return str(error), logger.confwarn
        return None, logger.confwarn

    for key, value in client_conf.items():
        why = refused(key)
        if why is not None:
            problems.append(f"{key}: {why}")
            continue
        if not isinstance(value, (str, int, float, bool)):
            problems.append(f"{key}: expected a string, number or boolean, got {type(value).__name__}")
            continue
        text = property_value(value)
        error, warnings = build({key: text})
        if error is not None:
            problems.append(f"{key}: {_reason(error, key, text)}")
            continue
        ignored = [w for w in warnings if f"property {key} " in w and "ignored" in w]
        if ignored:
            problems.append(f"{key}: {ignored[0].split(': ', 1)[-1].strip()}")
            continue
        accepted[key] = text
    if accepted and not problems:
        error, _ = build(accepted)
        if error is not None:  # properties that are each fine but not together
            named = [k for k in _QUOTED.findall(error) if k in accepted] or sorted(accepted)
            problems.append(f"{', '.join(named)}: {_reason(error, None, None)}")
    return problems


def _reason(error: str, key: str | None, value: str | None) -> str:
    error = error.removeprefix("Failed to create producer: ")
    if key is not None and error.startswith("No such configuration property"):
        return "not a librdkafka property"
    if key is not None and error.startswith("Invalid value"):
        # librdkafka names the canonical property (linger.ms is queue.buffering.max.ms).
        return f"invalid value {value!r} ({error})"
    return error
