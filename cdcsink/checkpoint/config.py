"""The ``checkpoint:`` section."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cdcsink.configtypes import Duration, component_config


class CheckpointConfig(BaseModel):
    model_config = component_config()

    store: str = Field(
        default="file://cdcsink-checkpoint.json",
        description="Where the checkpoint is kept: file:///path/checkpoint.json (a plain path works too).",
    )
    interval: Duration = Field(
        default=1.0, gt=0, description="Checkpoint advance (watermark broadcast + store write) at most this often."
    )
