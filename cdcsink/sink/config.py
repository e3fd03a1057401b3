"""The ``sink:`` section: the Kafka sink URI and every option it can carry.

Every URI query parameter (TiCDC names, e.g. ``partition-num``) may also be
written as a key under ``sink:``; when both are given the URI value wins.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, model_validator

from cdcsink.configtypes import Bool, Duration, component_config
from cdcsink.kafka.config import KafkaSecurityConfig
from cdcsink.route.config import DispatcherConfig

PROTOCOLS = ("canal-json", "open-protocol")


class SinkConfig(KafkaSecurityConfig):
    model_config = component_config()

    uri: str = Field(description="kafka://host:port[,host:port...]/default-topic?param=value&...")
    protocol: Literal["canal-json", "open-protocol"] | None = Field(
        default=None, description="Message protocol (required: in the URI or here)."
    )
    partition_num: int | None = Field(
        default=None, ge=1, description="Partitions for created topics; default topic: checked against the real count."
    )
    replication_factor: int = Field(default=1, ge=1, description="Replication factor for created topics.")
    required_acks: int = Field(default=-1, description="-1 (all in-sync replicas) or 1 (leader only).")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(default="none", description="Producer compression: none, gzip, snappy, lz4, zstd.")
    max_message_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Upper bound of one message; capped by the topic/broker limit."
    )
    max_retry: int = Field(default=5, ge=0, description="Retries of DDL and checkpoint messages.")
    kafka_version: str | None = Field(default=None, description="Accepted for TiCDC compatibility; the version is detected.")
    kafka_client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+$", description="Client id sent to Kafka; default cdcsink-<changefeed>.")
    kafka_client: Literal["aiokafka"] = Field(default="aiokafka", description="Kafka client library.")
    auto_create_topic: Bool = Field(default=True, description="Create missing topics (partition-num, replication-factor).")
    dial_timeout: Duration = Field(default=10.0, description="Accepted for TiCDC compatibility (connection set-up is bounded by read/write-timeout).")
    read_timeout: Duration = Field(default=10.0, description="Kafka request timeout (the larger of read/write-timeout is used).")
    write_timeout: Duration = Field(default=10.0, description="Kafka request timeout; a batch not acknowledged in time fails the run.")
    enable_tidb_extension: Bool = Field(default=False, description="canal-json: add _tidb.commitTs and send TIDB_WATERMARK messages.")
    max_batch_size: int = Field(default=16, ge=1, description="open-protocol: rows per message at most.")
    large_message_handle_option: Literal["none", "handle-key-only", "claim-check"] = Field(
        default="none",
        description="A row message over max-message-bytes: none (stop with an error), handle-key-only (send only the pk columns), claim-check (full message to claim-check-storage-uri, pk columns and its location to Kafka).",
    )
    claim_check_storage_uri: str | None = Field(
        default=None, description="claim-check: a file:// directory for the full messages (created if missing)."
    )
    large_message_handle_compression: Literal["none", "lz4", "snappy", "zstd"] = Field(
        default="none", description="Compress every message value the encoder writes (rows, DDL, canal-json watermarks) before the size check: none, lz4, snappy, zstd."
    )
    only_output_updated_columns: Bool = Field(
        default=False, description="An update's old image (canal-json old, open-protocol p) carries only the columns whose value changed."
    )
    delete_only_output_handle_key_columns: Bool = Field(
        default=False, description="A delete carries only its handle-key (pk) columns (a table without a pk keeps them all)."
    )
    content_compatible: Bool = Field(
        default=False,
        description="canal-json: mysqlType carries the full column type (int(11), decimal(10,2), enum('a','b')) and, as in TiCDC, an update's old image only the changed columns; ignored by open-protocol.",
    )
    max_inflight_messages: int = Field(
        default=100_000, ge=1, description="Row messages encoded but not yet acknowledged, at most (backpressure)."
    )
    dispatchers: list[DispatcherConfig] = Field(default_factory=list, description="Routing rules {matcher, topic, partition, columns}; first match wins. Env: a JSON list.")

    # Derived from the URI.
    brokers: list[str] = Field(default_factory=list, exclude=True)
    topic: str = Field(default="", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _merge_uri(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
            return data
        parts = urlsplit(data["uri"])
        if parts.scheme != "kafka":
            raise ValueError(f"uri: scheme must be kafka://, got {parts.scheme or 'none'}://")
        brokers = [b for b in parts.netloc.split(",") if b]
        if not brokers:
            raise ValueError("uri: no broker address (kafka://host:port/topic)")
        topic = unquote(parts.path.lstrip("/"))
        if not topic or "/" in topic:
            raise ValueError("uri: the path must be the default topic (kafka://host:port/topic)")
        merged = {k: v for k, v in data.items()}
        known = {name.replace("_", "-") for name in cls.model_fields} - {"uri", "dispatchers", "brokers", "topic"}
        given: set[str] = set()
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in known:
                raise ValueError(f"uri: unknown parameter {key!r}")
            if key in given:
                raise ValueError(f"uri: parameter {key!r} given twice")
            given.add(key)
            merged.pop(key.replace("-", "_"), None)
            merged[key] = value
        merged["brokers"] = brokers
        merged["topic"] = topic
        return merged

    @model_validator(mode="after")
    def _check(self) -> "SinkConfig":
        if self.protocol is None:
            raise ValueError(f"protocol: required (in the uri, ?protocol=..., or as a key); one of {', '.join(PROTOCOLS)}")
        if self.required_acks not in (-1, 1):
            raise ValueError(
                f"required-acks: {self.required_acks} is not allowed; use -1 or 1"
                " (0 gives no acknowledgement, so no checkpoint could ever advance)"
            )
        self.check_security()
        if self.large_message_handle_option != "none" and self.protocol == "canal-json" and not self.enable_tidb_extension:
            raise ValueError(
                f"large-message-handle-option: {self.large_message_handle_option} with canal-json needs"
                " enable-tidb-extension=true (the _tidb field carries onlyHandleKey / claimCheckLocation)"
            )
        if self.large_message_handle_option == "claim-check":
            if not self.claim_check_storage_uri:
                raise ValueError("claim-check-storage-uri: required with large-message-handle-option=claim-check (file:///dir)")
            if not self.claim_check_storage_uri.startswith("file://") or len(self.claim_check_storage_uri) <= len("file://"):
                raise ValueError(f"claim-check-storage-uri: must be a file:// directory, got {self.claim_check_storage_uri!r}")
        return self
