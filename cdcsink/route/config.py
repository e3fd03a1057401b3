"""One entry of ``sink.dispatchers``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from cdcsink.configtypes import component_config


class DispatcherConfig(BaseModel):
    model_config = component_config()

    matcher: list[str] = Field(min_length=1, description="Table filter rules: shop.*, *.orders, !shop.tmp_*.")
    topic: str | None = Field(default=None, description="Topic expression with {schema}/{table}; default: the default topic.")
    partition: Literal["default", "table", "index-value", "ts", "columns"] = "default"
    columns: list[str] = Field(default_factory=list, description="For partition: columns, the columns to hash.")

    @model_validator(mode="after")
    def _columns_given(self) -> "DispatcherConfig":
        if self.partition == "columns" and not self.columns:
            raise ValueError("columns: required when partition is columns")
        if self.partition != "columns" and self.columns:
            raise ValueError("columns: only used with partition: columns")
        return self
