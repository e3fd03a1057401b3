"""What the client layer needs, independent of the client library."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Bytes a record batch adds around its records (Kafka's v2 batch header).
RECORD_BATCH_OVERHEAD = 61


@dataclass
class SecurityOptions:
    """TLS and SASL, as the sink URI gives them (TiCDC's parameter names)."""

    tls: bool = False
    #: CA bundle to verify the brokers with (default: the system's).
    ca: str | None = None
    #: Client certificate and key (mutual TLS).
    cert: str | None = None
    key: str | None = None
    insecure_skip_verify: bool = False
    #: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, or None (no SASL).
    sasl_mechanism: str | None = None
    sasl_user: str | None = None
    sasl_password: str | None = None
    #: OAUTHBEARER: a file holding the token, read again for every new connection.
    oauth_token_file: str | None = None
    #: The config section these came from (``sink``, ``source``), for error messages.
    where: str = "sink"

    @property
    def protocol(self) -> str:
        """Kafka's security.protocol."""
        return ("SASL_" if self.sasl_mechanism else "") + ("SSL" if self.tls else "PLAINTEXT")


@dataclass
class KafkaOptions:
    brokers: list[str]
    client: str = "aiokafka"
    client_id: str = "cdcsink"
    required_acks: int = -1
    compression: str = "none"
    #: Hard cap on one record batch on the wire (the topic's/broker's max.message.bytes).
    max_message_bytes: int = 10 * 1024 * 1024
    max_retry: int = 5
    dial_timeout: float = 10.0
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    security: SecurityOptions = field(default_factory=SecurityOptions)
    #: Raw client properties (``sink.client-conf``; librdkafka's, for kafka-client=confluent).
    client_conf: dict[str, str] = field(default_factory=dict)

    @property
    def max_encoded_bytes(self) -> int:
        """max-message-bytes as the encoders count it (key + value + the record
        overhead, as TiCDC counts): the cap less a record batch header, so that a
        batch holding only that record fits the cap."""
        return self.max_message_bytes - RECORD_BATCH_OVERHEAD

    @property
    def batch_bytes(self) -> int:
        """Target size of one DML record batch: big enough to amortise a request,
        never above the cap (a batch of many records is checked as one message)."""
        return max(16 * 1024, min(self.max_message_bytes - RECORD_BATCH_OVERHEAD, 1024 * 1024))


def property_value(value: object) -> str:
    """A raw client property's value (``client-conf``) as text; booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
