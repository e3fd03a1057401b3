"""The ``sink:`` section: the Kafka sink URI and every option it can carry.

Every URI query parameter (TiCDC names, e.g. ``partition-num``) is the same
setting as the key of that name under ``sink:``. Given both ways in one place
(one file, or the environment) with different values, it is an error; across
places the usual precedence holds (see :mod:`cdcsink.config`).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator

from cdcsink.codec.registry import PROTOCOLS, protocols_taking, refused_options
from cdcsink.configtypes import Bool, Duration, component_config, did_you_mean
from cdcsink.kafka.config import KafkaSecurityConfig, broker_address_problem
from cdcsink.route.config import DispatcherConfig
from cdcsink.route.topic import topic_name_problem


class SinkConfig(KafkaSecurityConfig):
    model_config = component_config()

    uri: str = Field(description="kafka://host:port[,host:port...]/default-topic?param=value&...")
    protocol: str | None = Field(
        default=None,
        description=f"Message protocol: {', '.join(PROTOCOLS)} (required: in the URI or here).",
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
    kafka_client: Literal["aiokafka", "confluent"] = Field(
        default="aiokafka",
        description="Kafka client library: aiokafka, or confluent (librdkafka; idempotent, client-conf, statistics as metrics; needs the confluent extra).",
    )
    client_conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="kafka-client=confluent: raw librdkafka properties ({linger.ms: 5, ...}), checked at start; keys that sink settings set or that would break ordering are refused. Env: a JSON object.",
    )
    auto_create_topic: Bool = Field(default=True, description="Create missing topics (partition-num, replication-factor).")
    dial_timeout: Duration = Field(default=10.0, gt=0, description="confluent: connection set-up (TCP, TLS, SASL) at most this long (at least 1s); aiokafka: accepted for TiCDC compatibility (set-up is bounded by read/write-timeout).")
    read_timeout: Duration = Field(default=10.0, gt=0, description="Kafka request timeout (the larger of read/write-timeout is used).")
    write_timeout: Duration = Field(default=10.0, gt=0, description="Kafka request timeout; a batch not acknowledged in time fails the run.")
    enable_tidb_extension: Bool = Field(
        default=False,
        description="canal-json: add _tidb.commitTs and send TIDB_WATERMARK messages; debezium: add tidb_type to column schemas and commit_ts/cluster_id to the source schema, and send watermark messages (op m).",
    )
    max_batch_size: int = Field(default=16, ge=1, description="open-protocol: rows per message at most.")
    large_message_handle_option: Literal["none", "handle-key-only", "claim-check"] = Field(
        default="none",
        description="A row message over max-message-bytes: none (stop with an error), handle-key-only (send only the pk columns), claim-check (full message to claim-check-storage-uri, pk columns and its location to Kafka).",
    )
    claim_check_storage_uri: str | None = Field(
        default=None, description="claim-check: a file:// directory for the full messages (created if missing)."
    )
    large_message_handle_compression: Literal["none", "lz4", "snappy", "zstd"] = Field(
        default="none", description="Compress every message value the encoder writes (rows, DDL, canal-json watermarks; debezium keys too) before the size check: none, lz4, snappy, zstd. Not for maxwell."
    )
    only_output_updated_columns: Bool = Field(
        default=False, description="An update's old image (canal-json old, open-protocol p) carries only the columns whose value changed. Not for debezium or maxwell."
    )
    delete_only_output_handle_key_columns: Bool = Field(
        default=False, description="A delete carries only its handle-key (pk) columns (a table without a pk keeps them all). Not for debezium."
    )
    content_compatible: Bool = Field(
        default=False,
        description="canal-json: mysqlType carries the full column type (int(11), decimal(10,2), enum('a','b')) and, as in TiCDC, an update's old image only the changed columns; ignored by open-protocol; not for debezium or maxwell.",
    )
    debezium_disable_schema: Bool = Field(
        default=False, description="debezium: leave the Kafka Connect schema out of keys and values (payload only)."
    )
    debezium_output_old_value: Bool = Field(
        default=True, description="debezium: an update carries the old row in before (TiCDC's [sink.debezium] output-old-value)."
    )
    send_bootstrap_interval_in_sec: int = Field(
        default=120, description="simple: send a table's bootstrap (table schema) message again once this many seconds passed since its last one (checked at each of its rows)."
    )
    send_bootstrap_in_msg_count: int = Field(
        default=10000, description="simple: send a table's bootstrap message again once this many of its rows went out since its last one."
    )
    send_bootstrap_to_all_partition: Bool = Field(
        default=True, description="simple: bootstrap messages go to every partition of the table's topic (false: partition 0 only)."
    )
    send_all_bootstrap_at_start: Bool = Field(
        default=False, description="simple: refused when true (cdcsink knows a table only from its rows; each table's bootstrap precedes its first row)."
    )
    encoding_format: str = Field(default="json", description="simple: json (the only encoding cdcsink writes; avro is refused).")
    max_inflight_messages: int = Field(
        default=100_000, ge=1, description="Row messages encoded but not yet acknowledged, at most (backpressure)."
    )
    dispatchers: list[DispatcherConfig] = Field(default_factory=list, description="Routing rules {matcher, topic, partition, columns}; first match wins. Env: a JSON list.")

    _brokers: list[str] = PrivateAttr(default_factory=list)
    _topic: str = PrivateAttr(default="")

    @property
    def brokers(self) -> list[str]:
        """The URI's broker addresses (host:port)."""
        return self._brokers

    @brokers.setter
    def brokers(self, brokers: list[str]) -> None:
        """Point at other brokers (``make run``'s dev broker), keeping the rest."""
        self._brokers = list(brokers)

    @property
    def topic(self) -> str:
        """The default topic: the URI's path."""
        return self._topic

    @model_validator(mode="before")
    @classmethod
    def _merge_uri(cls, data: Any) -> Any:
        """A URI's parameters become keys; a key also given with another value is an error."""
        if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
            return data
        base, parameters, problems = split_uri(data["uri"])
        merged = dict(data, uri=base)
        for key, value in parameters:
            name = key.replace("-", "_")
            given = next((data[k] for k in (name, key) if k in data), None)
            if given is not None and not same_setting_value(given, value):
                problems.append(
                    f"{key}: {given!r} as a key, but {key}={value} in the uri; give it once"
                )
                continue
            merged.pop(key, None)
            merged[name] = value
        if problems:
            raise ValueError("\n".join(problems))
        return merged

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, protocol: str | None) -> str | None:
        if protocol is not None and protocol.lower() in PROTOCOLS:
            return protocol.lower()  # a choice, taken in any case as the other choices are
        if protocol is not None:
            raise ValueError(f"{protocol!r} is not a protocol cdcsink writes (one of {', '.join(PROTOCOLS)})")
        return protocol

    @field_validator("uri")
    @classmethod
    def _valid_uri(cls, uri: str) -> str:
        problems = base_uri_problems(uri)
        if problems:
            raise ValueError("\n".join(problems))
        return uri

    @model_validator(mode="after")
    def _check(self) -> "SinkConfig":
        parts = urlsplit(self.uri)
        self._brokers = [b.strip() for b in parts.netloc.split(",") if b.strip()]
        self._topic = unquote(parts.path.lstrip("/"))
        problems: list[str] = []
        if self.protocol is None:
            problems.append(f"protocol: required (in the uri, ?protocol=..., or as a key); one of {', '.join(PROTOCOLS)}")
        if self.required_acks not in (-1, 1):
            problems.append(
                f"required-acks: {self.required_acks} is not allowed; use -1 or 1"
                " (0 gives no acknowledgement, so no checkpoint could ever advance)"
            )
        problems += self.security_problems()
        problems += self._client_problems()
        if self.protocol is not None:
            problems += self._refused_options(self.protocol)
        if self.large_message_handle_option != "none" and self.protocol == "canal-json" and not self.enable_tidb_extension:
            problems.append(
                f"large-message-handle-option: {self.large_message_handle_option} with canal-json needs"
                " enable-tidb-extension=true (the _tidb field carries onlyHandleKey / claimCheckLocation)"
            )
        if self.protocol == "simple":
            problems += self._simple_problems()
        if self.large_message_handle_option == "claim-check":
            if not self.claim_check_storage_uri:
                problems.append("claim-check-storage-uri: required with large-message-handle-option=claim-check (file:///dir)")
            elif not self.claim_check_storage_uri.startswith("file://") or len(self.claim_check_storage_uri) <= len("file://"):
                problems.append(f"claim-check-storage-uri: must be a file:// directory, got {self.claim_check_storage_uri!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _simple_problems(self) -> list[str]:
        """What the simple protocol cannot do with these options, one line each."""
        problems = []
        if self.encoding_format != "json":
            problems.append(f"encoding-format: {self.encoding_format!r} is not supported; cdcsink writes the simple protocol as json")
        for key in ("send_bootstrap_interval_in_sec", "send_bootstrap_in_msg_count"):
            if getattr(self, key) <= 0:
                problems.append(
                    f"{key.replace('_', '-')}: must be more than 0 with the simple protocol: cdcsink's DDL messages carry no "
                    "table schema, so without bootstrap messages no consumer could read the rows"
                )
        if self.send_all_bootstrap_at_start:
            problems.append(
                "send-all-bootstrap-at-start: not supported; cdcsink knows a table only from its rows, and sends each "
                "table's bootstrap message before its first row"
            )
        return problems

    def _client_problems(self) -> list[str]:
        """kafka-client's library is installed; client-conf only with confluent, each key
        accepted by librdkafka and none refused (see cdcsink.kafka.confluent.config)."""
        from cdcsink.kafka import client_missing

        if self.kafka_client != "confluent":
            if self.client_conf:
                return ["client-conf: librdkafka properties, for kafka-client=confluent only"]
            return []
        missing = client_missing(self.kafka_client)
        if missing is not None:
            return [f"kafka-client: {missing}"]
        problems = []
        if self.required_acks != -1:
            problems.append(
                "required-acks: kafka-client=confluent needs -1: its idempotent producer, which keeps a failed"
                " batch's successors out of Kafka, requires acks from all in-sync replicas"
            )
        from cdcsink.kafka.confluent.config import client_conf_problems

        problems += [f"client-conf: {problem}" for problem in client_conf_problems(self.client_conf)]
        return problems

    def _refused_options(self, protocol: str) -> list[str]:
        """One line per option set (to other than its default) that ``protocol`` does not take."""
        problems = []
        for option in sorted(refused_options(protocol)):
            name = option.replace("-", "_")
            field = type(self).model_fields.get(name)
            if field is None or name not in self.model_fields_set or getattr(self, name) == field.default:
                continue
            taking = ", ".join(protocols_taking(option)) or "none"
            problems.append(f"{option}: not used by protocol {protocol} (TiCDC applies it to {taking}); remove it")
        return problems


#: Keys a URI may carry as parameters (TiCDC's names, hyphenated).
URI_PARAMETERS = frozenset(
    name.replace("_", "-") for name in SinkConfig.model_fields if name not in ("uri", "dispatchers", "client_conf")
)


def split_uri(uri: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """``uri`` as its base (scheme, brokers, topic), its parameters, and the
    problems with the parameters (unknown, given twice), each ``uri: reason``."""
    try:
        parts = urlsplit(uri)
    except ValueError as error:
        return uri, [], [f"uri: {error}"]
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    problems: list[str] = []
    if parts.fragment:
        problems.append(f"uri: '#{parts.fragment}' is not part of a kafka URI (a topic name cannot hold '#')")
    parameters: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in URI_PARAMETERS:
            problems.append(f"uri: unknown parameter {key!r}{did_you_mean(key, URI_PARAMETERS)}")
        elif key in seen:
            problems.append(f"uri: parameter {key!r} given twice")
        else:
            seen.add(key)
            parameters.append((key, value))
    return base, parameters, problems


def base_uri_problems(uri: str) -> list[str]:
    """What is wrong with a sink URI's scheme, brokers and default topic."""
    parts = urlsplit(uri)
    problems: list[str] = []
    if parts.scheme != "kafka":
        problems.append(f"scheme must be kafka://, got {parts.scheme or 'none'}:// (kafka://host:port/topic)")
        return problems
    brokers = [b.strip() for b in parts.netloc.split(",") if b.strip()]
    if not brokers:
        problems.append("no broker address (kafka://host:port/topic)")
    for broker in brokers:
        problem = broker_address_problem(broker)
        if problem:
            problems.append(f"broker {problem}")
    topic = unquote(parts.path.lstrip("/"))
    if not topic:
        problems.append("no default topic: the path must name it (kafka://host:port/topic)")
    elif "/" in topic:
        problems.append(f"the path must be one default topic, got {topic!r} (kafka://host:port/topic)")
    else:
        problem = topic_name_problem(topic)
        if problem:
            problems.append(f"default topic: {problem}")
    return problems


def same_setting_value(given: object, text: str) -> bool:
    """Whether a key's value and a URI parameter's text say the same thing."""
    if isinstance(given, bool):
        return text.strip().lower() == str(given).lower()
    return str(given) == text
