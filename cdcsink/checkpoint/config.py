"""The ``checkpoint:`` section."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cdcsink.configtypes import Duration, component_config

#: How the reference table shows the default store (resolved by ``checkpoint.store.default_store_path``).
DEFAULT_STORE_TEXT = "$XDG_STATE_HOME/cdcsink/<changefeed>/checkpoint.json"


class CheckpointConfig(BaseModel):
    model_config = component_config()

    store: str | None = Field(
        default=None,
        description=(
            "Where the checkpoint is kept: file:///path/checkpoint.json (a plain path works too). Default: a file per "
            "changefeed in the user's state directory, $XDG_STATE_HOME (else ~/.local/state; on macOS "
            "~/Library/Application Support)."
        ),
        json_schema_extra={"default_text": DEFAULT_STORE_TEXT},
    )
    interval: Duration = Field(
        default=1.0, gt=0, description="Checkpoint advance (watermark broadcast + store write) at most this often."
    )
