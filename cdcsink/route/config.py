"""One entry of ``sink.dispatchers`` (TiCDC's ``[[sink.dispatchers]]``).

The matcher and topic expression are checked here already, so a bad rule is
reported with the config file's line; the router checks them again for
configs built without validation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from cdcsink.configtypes import component_config
from cdcsink.errors import ConfigError
from cdcsink.route.matcher import TableMatcher
from cdcsink.route.topic import TopicExpression

PartitionKind = Literal["default", "table", "index-value", "ts", "columns"]


class DispatcherConfig(BaseModel):
    model_config = component_config()

    matcher: list[str] = Field(min_length=1, description="Table filter rules: shop.*, *.orders, !shop.tmp_*; the last matching rule decides.")
    topic: str | None = Field(default=None, description="Topic expression: a fixed name or one with {schema}/{table}; default: the default topic.")
    partition: PartitionKind = Field(default="default", description="default (= table), table, index-value, ts or columns.")
    columns: list[str] = Field(default_factory=list, description="For partition: columns, the columns whose values are hashed.")
    index: str | None = Field(
        default=None,
        description="TiCDC's named-index dispatch; refused: events name their handle key (pk), not their indexes (use partition: columns with the index's columns).",
    )

    @field_validator("matcher")
    @classmethod
    def _valid_matcher(cls, rules: list[str]) -> list[str]:
        try:
            TableMatcher(rules)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return rules

    @field_validator("topic")
    @classmethod
    def _valid_topic(cls, topic: str | None) -> str | None:
        if not topic:
            return None  # TiCDC: an empty topic rule means the default topic
        try:
            TopicExpression(topic)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return topic

    @field_validator("partition", mode="before")
    @classmethod
    def _partition_alias(cls, value: Any) -> Any:
        """TiCDC reads the rule case-insensitively and takes ``rowid`` for index-value."""
        if isinstance(value, str):
            value = value.strip().lower()
            return "index-value" if value == "rowid" else value
        return value

    @model_validator(mode="after")
    def _partition_options(self) -> "DispatcherConfig":
        problems: list[str] = []
        if self.partition == "columns":
            if not self.columns:
                problems.append("columns: required (non-empty) when partition is columns")
            if any(not name.strip() for name in self.columns):
                problems.append("columns: a column name cannot be empty")
            lowered = [name.lower() for name in self.columns]
            duplicate = next((name for name in lowered if lowered.count(name) > 1), None)
            if duplicate is not None:
                problems.append(f"columns: {duplicate!r} is listed twice")
        elif self.columns:
            problems.append(f"columns: only used with partition: columns (this rule has partition: {self.partition})")
        if self.index is not None:
            # Hashing the pk instead would put rows where TiCDC would not, silently.
            problems.append(
                "index: named-index dispatch is not supported (events carry their handle key, not index "
                "definitions); use partition: columns with the index's columns"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self
