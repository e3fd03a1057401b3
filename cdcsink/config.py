"""The daemon's settings: one pydantic-settings model composed of the
components' own config models.

Precedence: ``CDCSINK_<SECTION>__<KEY>`` env vars > the YAML file > defaults.
YAML keys may be written with hyphens (``partition-num``) or underscores.
A bad value is reported as one line naming where it came from:
``cdcsink.yaml:12: sink.partition-num: ...`` or ``env CDCSINK_SINK__URI: ...``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from cdcsink.checkpoint.config import CheckpointConfig
from cdcsink.configtypes import Bool, Duration, component_config
from cdcsink.errors import ConfigError
from cdcsink.sink.config import SinkConfig
from cdcsink.source.config import SourceConfig

ENV_PREFIX = "CDCSINK_"
CONFIG_ENV = "CDCSINK_CONFIG"
#: Read when neither --config nor $CDCSINK_CONFIG names a file and it exists (the container's mount point).
DEFAULT_CONFIG = Path("/etc/cdcsink/cdcsink.yaml")


class LogConfig(BaseModel):
    model_config = component_config()

    format: Literal["json", "console"] = Field(default="console", description="json lines, or key=value for a terminal.")
    level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="debug, info, warning or error.")


def _is_secret_file_var(name: str) -> bool:
    """Whether ``CDCSINK_<KEY>_FILE`` names a file holding the value of <KEY>.

    Not when the whole name is a key of its own: ``CDCSINK_SINK__SASL_OAUTH_TOKEN_FILE``
    sets sink.sasl-oauth-token-file (a path) directly.
    """
    upper = name.upper()
    if not (upper.startswith(ENV_PREFIX) and upper.endswith("_FILE")):
        return False
    model: type[BaseModel] = Settings
    *sections, key = upper[len(ENV_PREFIX) :].lower().split("__")
    for section in sections:
        annotation = model.model_fields[section].annotation if section in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return True
        model = annotation
    return key not in model.model_fields


class _EnvWithoutFileVars(EnvSettingsSource):
    """Env vars, leaving ``*_FILE`` ones to :func:`load_settings` (they name files)."""

    def _load_env_vars(self):  # type: ignore[override]
        return {k: v for k, v in super()._load_env_vars().items() if not _is_secret_file_var(k)}


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
        alias_generator=lambda name: name.replace("_", "-"),
    )

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; env vars win over it.
        return (_EnvWithoutFileVars(settings_cls), init_settings)


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).replace("-", "_"): _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def _line_map(node: yaml.Node, path: tuple[Any, ...] = (), out: dict | None = None) -> dict[tuple[Any, ...], int]:
    """Key path -> 1-based line of the value, from a composed YAML node tree."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value).replace("-", "_")
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _line_map(item, path + (i,), out)
    return out


def read_yaml(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """The YAML file's content (keys normalized to underscores) and its line map."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of sections (source, sink, checkpoint, ...)")
    return _normalize(data), _line_map(node) if node is not None else {}


def _env_name(loc: tuple[Any, ...]) -> str | None:
    keys = [str(k).replace("-", "_").upper() for k in loc if not isinstance(k, int)]
    for n in range(len(keys), 0, -1):
        name = ENV_PREFIX + "__".join(keys[:n])
        if name in os.environ:
            return name
    return None


def describe_validation_error(error: ValidationError, path: str | None, lines: dict[tuple[Any, ...], int]) -> str:
    """The first problem as one line, naming the file:line or env var it came from."""
    first = error.errors()[0]
    loc = tuple(k.replace("-", "_") if isinstance(k, str) else k for k in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    # Model-level checks name their key first ("uri: ..."): fold it into the path.
    named = re.match(r"^([a-z][a-z_-]*): (.*)$", msg, re.S)
    if named and first["type"] == "value_error":
        loc = loc + (named.group(1).replace("-", "_"),)
        msg = named.group(2)
    dotted = ".".join(str(k).replace("_", "-") if isinstance(k, str) else f"[{k}]" for k in loc).replace(".[", "[")
    if first["type"] == "missing":
        msg = "required (in the config file or env)"
    elif first["type"] == "extra_forbidden":
        msg = "unknown key"
    env = _env_name(loc)
    uri_env = f"{ENV_PREFIX}SINK__URI"
    if env is None and loc[:1] == ("sink",) and loc not in lines and uri_env in os.environ:
        env = uri_env  # a sink value not set as a key came from the URI's query
    where = None
    if env is not None:
        where = f"env {env}"
    elif path is not None:
        if loc[:1] == ("sink",) and loc not in lines and ("sink", "uri") in lines:
            # A sink value not written as a key came from the URI's query.
            loc = ("sink", "uri")
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                where = f"{path}:{lines[loc[:n]]}"
                break
        where = where or str(path)
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    prefix = f"{where}: " if where else ""
    return f"{prefix}{dotted}: {msg}{suffix}" if dotted else f"{prefix}{msg}{suffix}"


def _file_env() -> dict[str, Any]:
    """Values of ``CDCSINK_<KEY>_FILE`` env vars: the named file's content, as a
    nested dict like the YAML's (for secrets mounted as files)."""
    values: dict[str, Any] = {}
    for name, file_path in os.environ.items():
        if not (name.startswith(ENV_PREFIX) and _is_secret_file_var(name)):
            continue
        try:
            content = Path(file_path).read_text().strip()
        except OSError as error:
            raise ConfigError(f"env {name}: cannot read {file_path}: {error.strerror}") from None
        keys = name[len(ENV_PREFIX) : -len("_FILE")].lower().split("__")
        node = values
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = content
    return values


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Settings from ``path`` (else ``$CDCSINK_CONFIG``, else /etc/cdcsink/cdcsink.yaml
    when it exists, else env vars alone)."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    data: dict[str, Any] = {}
    lines: dict[tuple[Any, ...], int] = {}
    if path is not None:
        data, lines = read_yaml(path)
    data = _merge(data, _file_env())
    try:
        return Settings(**data)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, str(path) if path else None, lines)) from None
    except SettingsError as error:
        # An env var that should hold JSON (a list or a mapping) and does not.
        cause = error.__cause__
        raise ConfigError(f"env: {error}" + (f" ({cause})" if cause else "")) from None


_SECRET_WORDS = ("password", "secret", "token", "key_password")


def _is_secret_key(name: str) -> bool:
    """Whether a key's value is masked in ``config show``; a ``*_file`` key holds
    a path to a secret, not the secret, and is shown."""
    name = name.replace("-", "_")
    return any(word in name for word in _SECRET_WORDS) and not name.endswith("_file")


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
    return re.sub(r"([?&])([^=&]*)=[^&]*", lambda m: f"{m[1]}{m[2]}=****" if _is_secret_key(m[2]) else m[0], masked)


def show_config(path: str | os.PathLike[str] | None = None) -> str:
    """The effective settings, one ``key = value  # source`` line each, secrets masked."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    data, lines = read_yaml(path) if path is not None else ({}, {})
    settings = load_settings(path)
    uri_keys = set()
    if settings.sink.uri:
        from urllib.parse import parse_qsl, urlsplit

        uri_keys = {k.replace("-", "_") for k, _ in parse_qsl(urlsplit(settings.sink.uri).query)}
    out = []
    for loc, value in _flatten(settings.model_dump(mode="json", exclude={"sink": {"brokers", "topic"}})):
        keys = tuple(k for k in loc if isinstance(k, str))
        env = _env_name(loc)
        file_env = ENV_PREFIX + "__".join(k.upper() for k in keys) + "_FILE"
        if env is None and file_env in os.environ:
            source = f"env {file_env} (secret, masked)"
            value = "****"
        elif env is not None:
            source = f"env {env}"
        elif loc[:1] == ("sink",) and len(loc) == 2 and loc[1] in uri_keys:
            source = "sink.uri"
        elif loc in lines or (len(loc) > 1 and loc[:2] in lines and loc[0] == "sink" and loc[1] == "dispatchers"):
            source = f"{path}:{lines.get(loc) or lines.get(loc[:2])}"
        else:
            source = "default"
        if _is_secret_key(keys[-1]) and value not in (None, ""):
            value = "****"
        if keys[-1] == "uri" and isinstance(value, str):
            value = _mask_uri(value)
        dotted = ".".join(str(k).replace("_", "-") if isinstance(k, str) else f"[{k}]" for k in loc).replace(".[", "[")
        out.append(f"{dotted} = {value!r}  # {source}" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{dotted} = {value}  # {source}")
    return "\n".join(out)
