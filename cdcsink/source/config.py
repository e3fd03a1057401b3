"""The ``source:`` section."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from cdcsink.configtypes import Bool, Duration, component_config


class SourceConfig(BaseModel):
    model_config = component_config()

    type: Literal["file", "stdin"] = Field(default="file", description="file or stdin.")
    path: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="file: an NDJSON path, a list of paths, or a glob; read in order."
    )
    follow: Bool = Field(default=False, description="file: keep tailing the last file (like tail -F) instead of exiting at its end.")
    poll_interval: Duration = Field(default=0.01, gt=0, description="file, follow: how often to look for new data (an idle check is one read and one stat).")
    on_invalid: Literal["fail", "dead-letter"] = Field(
        default="fail",
        description="An invalid input line: fail (stop with file:line: reason) or dead-letter (set it aside and go on).",
    )
    dead_letter: str | None = Field(
        default=None,
        description="dead-letter target: a Kafka topic (default <default-topic>-dlq) or a file:///path (JSON lines).",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()] if "," in value else [value]
        return value

    @model_validator(mode="after")
    def _check(self) -> "SourceConfig":
        if self.type == "file" and not self.path:
            raise ValueError("path: required for a file source")
        return self


def build_source(config: SourceConfig):
    """The :class:`cdcsink.source.Source` described by ``config``."""
    if config.type == "stdin":
        from cdcsink.source.stdin import StdinSource

        return StdinSource()
    from cdcsink.source.file import FileSource

    return FileSource(config.path, follow=config.follow, poll_interval=config.poll_interval)
