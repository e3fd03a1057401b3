"""The daemon's settings: one pydantic model composed of the components' own
config models, and the loading of it from the YAML file and env vars.

Precedence, setting by setting: ``CDCSINK_<SECTION>__<KEY>`` env vars > the
YAML file > defaults. A sink URI parameter is the setting of the same name,
from the place the URI is written (see :mod:`cdcsink.configsources`). YAML
keys may be written with hyphens (``partition-num``) or underscores. Every
problem is reported, each as one line naming where it came from:
``cdcsink.yaml:12: sink.partition-num: ...`` or ``env CDCSINK_SINK__URI: ...``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from cdcsink.checkpoint.config import CheckpointConfig
from cdcsink.configsources import (
    ENV_PREFIX,
    Layer,
    Loc,
    dotted,
    env_layer,
    env_name,
    fold_choice_case,
    is_secret_key,
    merge,
    model_at,
    origin_of,
    problem_line,
    yaml_layer,
)
from cdcsink.configtypes import Bool, Duration, component_config, did_you_mean
from cdcsink.errors import ConfigError
from cdcsink.sink.config import SinkConfig
from cdcsink.source.config import SourceConfig

CONFIG_ENV = "CDCSINK_CONFIG"
#: Read when neither --config nor $CDCSINK_CONFIG names a file and it exists (the container's mount point).
DEFAULT_CONFIG = Path("/etc/cdcsink/cdcsink.yaml")
NO_CONFIGURATION = (
    f"no configuration: pass --config FILE, set {CONFIG_ENV} (or mount {DEFAULT_CONFIG}), "
    "or set CDCSINK_SINK__URI and CDCSINK_SOURCE__PATH"
)


class LogConfig(BaseModel):
    model_config = component_config()

    format: Literal["json", "console"] = Field(default="console", description="json lines, or key=value for a terminal.")
    level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="debug, info, warning or error.")


class HttpConfig(BaseModel):
    model_config = component_config()

    enabled: Bool = Field(default=True, description="Serve /metrics, /healthz and /readyz.")
    host: str = Field(default="0.0.0.0", description="Address the HTTP endpoints listen on.")
    port: int = Field(default=9108, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz (0: any free port).")


class RestartConfig(BaseModel):
    model_config = component_config()

    backoff_min: Duration = Field(default=1.0, gt=0, description="First wait before restarting from the checkpoint after a retriable failure.")
    backoff_max: Duration = Field(default=60.0, gt=0, description="Longest wait between restarts (exponential backoff with jitter).")
    max_attempts: int = Field(default=0, ge=0, description="Restarts in a row without progress before giving up; 0 = forever.")

    @model_validator(mode="after")
    def _ordered(self) -> "RestartConfig":
        if self.backoff_max < self.backoff_min:
            raise ValueError(f"backoff-max: {self.backoff_max:g}s is less than backoff-min ({self.backoff_min:g}s)")
        return self


class Settings(BaseModel):
    model_config = component_config()

    changefeed: str = Field(default="default", description="Name of this feed, in logs, metrics and the checkpoint.")
    source: SourceConfig = Field(default_factory=SourceConfig)
    sink: SinkConfig
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    restart: RestartConfig = Field(default_factory=RestartConfig)
    shutdown_timeout: Duration = Field(
        default=30.0, gt=0, description="On SIGTERM/SIGINT, how long to drain in-flight messages before giving up."
    )
    ready_check_interval: Duration = Field(
        default=2.0, gt=0, description="How often /readyz re-checks that Kafka answers."
    )


def config_path(path: str | os.PathLike[str] | None) -> str | os.PathLike[str] | None:
    """``path``, else ``$CDCSINK_CONFIG``, else /etc/cdcsink/cdcsink.yaml when it exists."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    return path


def _describe(error: ValidationError, origins: dict[Loc, Any]) -> list[str]:
    """Each problem pydantic found as one line naming where its value came from."""
    lines: list[str] = []
    for problem in error.errors():
        base: Loc = tuple(k.replace("-", "_") if isinstance(k, str) else k for k in problem["loc"])
        # A model-level check reports several problems, one per line, each naming its key first.
        for message in problem["msg"].removeprefix("Value error, ").split("\n"):
            loc = base
            kind = problem["type"]
            model = model_at(Settings, loc)
            named = re.match(r"^([a-z][a-z0-9_-]*): (.*)$", message, re.S)
            if kind == "value_error" and named and model is not None and named[1].replace("-", "_") in model.model_fields:
                loc = loc + (named[1].replace("-", "_"),)
                message = named[2]
            if kind == "missing":
                message = f"required (in the config file, or env {env_name(loc)})" if len(loc) <= 2 else "required"
            elif kind == "extra_forbidden":
                parent = model_at(Settings, loc[:-1])
                names = [n.replace("_", "-") for n in parent.model_fields] if parent is not None else []
                message = "unknown key" + did_you_mean(str(loc[-1]), names)
            elif kind in ("model_type", "model_attributes_type", "dict_type"):
                message = "expected a mapping of keys"
            lines.append(problem_line(loc, message, origin_of(loc, origins)))
    return lines


def _load(path: str | os.PathLike[str] | None) -> tuple[Settings, Layer]:
    named_by = None if path is not None else f"env {CONFIG_ENV}" if os.environ.get(CONFIG_ENV) else None
    path = config_path(path)
    env = env_layer(os.environ, Settings)
    if path is None and ("sink", "uri") not in env.settings:
        raise ConfigError("\n".join([*env.problems, NO_CONFIGURATION]))
    file = yaml_layer(path, Settings, named_by) if path is not None else Layer()
    if path is not None and not file.settings and not file.problems and ("sink", "uri") not in env.settings:
        raise ConfigError("\n".join([*env.problems, f"{path}: no settings in the file (sink.uri, and source.path for a file source, are needed)"]))
    merged = merge(file, env)
    fold_choice_case(merged.data, Settings)
    for name, info in Settings.model_fields.items():
        if model_at(Settings, (name,)) is not None:
            merged.data.setdefault(name, {})  # so each section's own checks run and name their keys
    problems = list(merged.problems)
    try:
        settings = Settings.model_validate(merged.data)
    except ValidationError as error:
        problems += _describe(error, merged.origins)
    if problems:
        raise ConfigError("\n".join(problems))
    return settings, merged


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Settings from ``path`` (else ``$CDCSINK_CONFIG``, else /etc/cdcsink/cdcsink.yaml
    when it exists) and env vars. :class:`ConfigError` lists every problem, one per line."""
    return _load(path)[0]


def _flatten(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict) and value:
        out: list[tuple[tuple[Any, ...], Any]] = []
        for key, item in value.items():
            out.extend(_flatten(item, path + (key,)))
        return out
    return [(path, value)]


def _mask_uri(uri: str) -> str:
    """A URI with secret query values (sasl-password, ...) and user:password@ masked."""
    masked = re.sub(r"//([^:/@]+):([^@/]+)@", r"//\1:****@", uri)
    if "://" not in masked:  # a libpq key=value string
        masked = re.sub(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", "password=****", masked)
    return re.sub(r"([?&])([^=&]*)=[^&]*", lambda m: f"{m[1]}{m[2]}=****" if is_secret_key(m[2]) else m[0], masked)


def show_config(path: str | os.PathLike[str] | None = None) -> str:
    """The effective settings, one ``key = value  # origin`` line each, secrets masked."""
    settings, merged = _load(path)
    out = []
    for loc, value in _flatten(settings.model_dump(mode="json")):
        origin = merged.origins.get(loc)
        source = str(origin) if origin is not None else "default"
        if origin is not None and origin.secret_file:
            source += " (secret, masked)"
            value = "****"
        if loc in merged.overridden:
            source += f", over {merged.overridden[loc]}"
        if is_secret_key(str(loc[-1])) and value not in (None, ""):
            value = "****"
        if loc[-1] in ("uri", "dsn") and isinstance(value, str):
            value = _mask_uri(value)
        shown = f"{value}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
        out.append(f"{dotted(loc)} = {shown}  # {source}")
    return "\n".join(out)
