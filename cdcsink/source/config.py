"""The ``source:`` section."""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from cdcsink.configtypes import Bool, Duration, component_config, parse_text_list
from cdcsink.kafka.config import KafkaSecurityConfig, broker_address_problem
from cdcsink.route.topic import topic_name_problem
from cdcsink.source import DEFAULT_MAX_LINE_BYTES
from cdcsink.source.postgres.config import PostgresSourceConfig

if TYPE_CHECKING:
    from cdcsink.source import Source


class SourceConfig(KafkaSecurityConfig, PostgresSourceConfig):
    model_config = component_config()

    type: Literal["file", "stdin", "kafka", "postgres"] = Field(
        default="file",
        description="file, stdin, kafka (an upstream topic read in a consumer group) or postgres (a database's logical replication stream).",
    )
    path: list[str] = Field(
        default_factory=list, description="file: an NDJSON path, a list of paths, or a glob; read in order."
    )
    follow: Bool = Field(default=False, description="file: keep tailing the last file (like tail -F) instead of exiting at its end.")
    poll_interval: Duration = Field(default=0.01, gt=0, description="file, follow: how often to look for new data (an idle check is one read and one stat).")
    max_line_bytes: int = Field(
        default=DEFAULT_MAX_LINE_BYTES,
        ge=1024,
        description="file, stdin: the longest input line accepted, in bytes (at least 1024); a longer one is invalid input (on-invalid; dead-letter keeps its first 1 KiB) and is never held whole in memory.",
    )
    on_invalid: Literal["fail", "dead-letter"] = Field(
        default="fail",
        description="An invalid input line: fail (stop with file:line: reason) or dead-letter (set it aside and go on).",
    )
    dead_letter: str | None = Field(
        default=None,
        description="dead-letter target: a Kafka topic (default <default-topic>-dlq) or a file:///path (JSON lines).",
    )

    bootstrap: list[str] = Field(
        default_factory=list, description="kafka: the input cluster's brokers, host:port[,host:port...] (may differ from the sink's)."
    )
    topics: list[str] = Field(default_factory=list, description="kafka: the input topics (or topic-pattern).")
    topic_pattern: str | None = Field(default=None, description="kafka: a regex of input topics, instead of topics.")
    group: str | None = Field(
        default=None, description="kafka: the consumer group; its committed offsets are the checkpoint (instances sharing it share the input)."
    )
    format: str = Field(
        default="cdcsink",
        description="kafka: what the messages are: cdcsink (one NDJSON event per message), or a CDC protocol read as TiCDC's consumer reads it: canal-json, open-protocol, simple, debezium, maxwell.",
    )
    large_message_handle_compression: Literal["none", "lz4", "snappy", "zstd"] = Field(
        default="none",
        description="kafka, a CDC format: the large-message-handle-compression the upstream wrote the message values with.",
    )
    revoke_timeout: Duration = Field(
        default=30.0, gt=0, description="kafka: on a rebalance, how long to wait for the revoked partitions' events to be acknowledged before committing and letting go (what is not acked by then is replayed by the next owner)."
    )
    session_timeout: Duration = Field(
        default=10.0, gt=0, description="kafka: a member not heard from for this long (a killed process) loses its partitions to the others."
    )

    @field_validator("path", "bootstrap", "topics", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return parse_text_list(value)  # a JSON list, or comma-separated (an empty env var: none)

    @model_validator(mode="after")
    def _check(self) -> "SourceConfig":
        problems: list[str] = []
        if self.type == "file" and not self.path:
            problems.append(
                "path: required for a file source (source.type defaults to file; "
                "set source.path, or source.type: stdin, kafka or postgres)"
            )
        if self.type == "kafka":
            if not self.bootstrap:
                problems.append("bootstrap: required for a kafka source (host:port[,host:port...])")
            for address in self.bootstrap:
                problem = broker_address_problem(address)
                if problem:
                    problems.append(f"bootstrap: {problem}")
            if not self.group:
                problems.append("group: required for a kafka source (its committed offsets are the checkpoint)")
            if bool(self.topics) == bool(self.topic_pattern):
                problems.append("topics or topic-pattern: give exactly one for a kafka source")
            for topic in self.topics:
                problem = topic_name_problem(topic)
                if problem:
                    problems.append(f"topics: {problem}")
            from cdcsink.decode.messages import formats

            if self.format not in formats():
                problems.append(f"format: {self.format!r} is not one of {', '.join(formats())}")
            if self.topic_pattern:
                try:
                    re.compile(self.topic_pattern)
                except re.error as error:
                    problems.append(f"topic-pattern: not a regular expression ({error})")
        if self.type == "postgres":
            problems += self.postgres_problems()
        if self.dead_letter and not self.dead_letter.startswith("file://"):
            problem = topic_name_problem(self.dead_letter)
            if problem:
                problems.append(f"dead-letter: {problem} (a Kafka topic, or file:///path)")
        problems += self.security_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self


#: Each ``source.type``: the module and class of its :class:`cdcsink.source.Source`
#: (imported when chosen). A source is built as ``Class.from_config(config, client_id)``.
SOURCES: dict[str, str] = {
    "file": "cdcsink.source.file:FileSource",
    "stdin": "cdcsink.source.stdin:StdinSource",
    "kafka": "cdcsink.source.kafka:KafkaSource",
    "postgres": "cdcsink.source.postgres:PostgresSource",
}


def build_source(config: SourceConfig, client_id: str = "cdcsink") -> "Source":
    """The :class:`cdcsink.source.Source` described by ``config``."""
    module, name = SOURCES[config.type].split(":")
    return getattr(importlib.import_module(module), name).from_config(config, client_id)
