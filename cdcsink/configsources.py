"""Where settings come from, each value with its origin.

Two layers give settings: the YAML file and ``CDCSINK_*`` env vars (env wins,
setting by setting; defaults fill the rest). A sink URI's parameters
(``?protocol=...``) are settings of the layer the URI is written in, exactly
like the key of the same name under ``sink:``; within one layer, a parameter
and a key that disagree are an error, never a silent choice.

Every value keeps its :class:`Origin` (``cdcsink.yaml:6``, ``env
CDCSINK_SINK__URI``, with ``(sink.uri parameter)`` for a URI's parameter), so
an error names the place to fix and ``config show`` the place that won.
Problems are collected, not raised one by one: a user sees all of them at once.
"""

from __future__ import annotations

import copy
import json
import re
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cdcsink.configtypes import did_you_mean
from cdcsink import speedups
from cdcsink.errors import ConfigError
from cdcsink.sink.config import same_setting_value, split_uri

ENV_PREFIX = "CDCSINK_"
#: ``CDCSINK_*`` variables that are not settings: the config file's path, the
#: compiled hot path's switches (``CDCSINK_NO_EXTENSIONS`` at run time and build
#: time, ``CDCSINK_REQUIRE_EXTENSIONS`` at build time, both read by ``setup.py``
#: and :mod:`cdcsink.speedups`), and the test suite's and benchmark's variables.
NOT_SETTINGS = frozenset({
    "CDCSINK_CONFIG",
    "CDCSINK_NO_EXTENSIONS",
    "CDCSINK_REQUIRE_EXTENSIONS",
    "CDCSINK_TEST_BOOTSTRAP",
    "CDCSINK_TEST_KAFKA_CLIENT",
    "CDCSINK_BENCH_BOOTSTRAP",
    "CDCSINK_IMAGE_TEST_BASE",
})
SECRET_FILE_SUFFIX = "_FILE"
#: Variables Kubernetes sets for a Service named ``cdcsink`` (service links).
_SERVICE_LINK = re.compile(r"^CDCSINK_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_\w+)?)?)$")
_SECRET_WORDS = ("password", "secret", "token")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Origin:
    """Where one value was written."""

    #: ``cdcsink.yaml:6`` or ``env CDCSINK_SINK__URI``.
    where: str
    #: Given as a parameter of ``sink.uri`` (written where the URI is).
    uri_parameter: bool = False
    #: Read from the file a ``CDCSINK_<KEY>_FILE`` variable names.
    secret_file: bool = False

    def __str__(self) -> str:
        return self.where + (" (sink.uri parameter)" if self.uri_parameter else "")


@dataclass
class Layer:
    """One place settings come from: its values (keys with underscores), their
    origins, the settings it gives, and the problems found reading it."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Loc, Origin] = field(default_factory=dict)
    settings: set[Loc] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    #: For a merged layer: the origin each winning value overrode.
    overridden: dict[Loc, Origin] = field(default_factory=dict)


def dotted(loc: Loc) -> str:
    """``sink.dispatchers[0].topic`` for ``("sink", "dispatchers", 0, "topic")``."""
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else ("." if text else "") + str(key).replace("_", "-")
    return text


def env_name(loc: Loc) -> str:
    """The env var that sets the setting at ``loc``."""
    return ENV_PREFIX + "__".join(str(k).upper() for k in loc)


def is_secret_key(name: str) -> bool:
    """Whether a key's value is masked: a ``*_file`` key holds a path to a
    secret, not the secret, and is shown."""
    name = name.replace("-", "_")
    return any(word in name for word in _SECRET_WORDS) and not name.endswith("_file")


def _section_model(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _item_model(info: FieldInfo) -> type[BaseModel] | None:
    """The model of a list's items (``dispatchers``), else None."""
    if typing.get_origin(info.annotation) is list:
        (item,) = typing.get_args(info.annotation) or (None,)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def setting_fields(model: type[BaseModel]) -> dict[Loc, FieldInfo]:
    """Every setting: top-level values and the keys of each section."""
    fields: dict[Loc, FieldInfo] = {}
    for name, info in model.model_fields.items():
        section = _section_model(info)
        if section is None:
            fields[(name,)] = info
            continue
        for key, key_info in section.model_fields.items():
            if not key_info.exclude:
                fields[(name, key)] = key_info
    return fields


def _choices(annotation: Any) -> tuple[str, ...]:
    """The values of a setting with a fixed set of them (a ``Literal``, maybe optional), else ()."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return tuple(arg for arg in typing.get_args(annotation) if isinstance(arg, str))
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return tuple(choice for arg in typing.get_args(annotation) for choice in _choices(arg))
    return ()


def _fold_case(value: Any, annotation: Any) -> Any:
    """``value`` as the choice it names in other case (``JSON`` -> ``json``), else as it is."""
    if not isinstance(value, str):
        return value
    choices = _choices(annotation)
    if not choices or value in choices:
        return value
    lowered = value.strip().lower()
    return lowered if lowered in choices else value


def fold_choice_case(data: dict[str, Any], model: type[BaseModel]) -> None:
    """Take the value of every setting with a fixed set of choices (``log.format``,
    ``source.type``, ``sink.protocol``, a dispatcher's ``partition``, ...) in any case:
    ``CDCSINK_LOG__FORMAT=JSON`` means ``json``. Other values are left for the model to refuse."""
    for loc, info in setting_fields(model).items():
        try:
            value = _get(data, loc)
        except (KeyError, TypeError):
            continue
        item = _item_model(info)
        if item is None:
            folded = _fold_case(value, info.annotation)
            if folded is not value:
                _set(data, loc, folded)
        elif isinstance(value, list):
            for entry in value:
                if not isinstance(entry, dict):
                    continue
                for name, key_info in item.model_fields.items():
                    for key in {name, name.replace("_", "-")} & entry.keys():
                        entry[key] = _fold_case(entry[key], key_info.annotation)


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model whose keys sit at ``loc`` (a section, a dispatcher), else None."""
    current: type[BaseModel] | None = model
    for key in loc:
        if isinstance(key, int):
            continue
        info = current.model_fields.get(key) if current is not None else None
        if info is None:
            return None
        current = _section_model(info) or _item_model(info)
    return current


def _get(data: dict[str, Any], loc: Loc) -> Any:
    for key in loc:
        data = data[key]
    return data


def _set(data: dict[str, Any], loc: Loc, value: Any) -> None:
    for key in loc[:-1]:
        if not isinstance(data.get(key), dict):  # type: ignore[arg-type]
            data[key] = {}  # type: ignore[index]
        data = data[key]  # type: ignore[index]
    data[loc[-1]] = value  # type: ignore[index]


def _mask(loc: Loc, value: Any) -> Any:
    return "****" if is_secret_key(str(loc[-1])) and value not in (None, "") else value


# -- the YAML file ----------------------------------------------------------------


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).replace("-", "_"): _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def _walk(node: yaml.Node, path: str, loc: Loc, layer: Layer) -> None:
    """Each key's and list item's line into ``layer.origins``; a key given twice is a problem."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value).replace("-", "_")
            line = key_node.start_mark.line + 1
            if key in first:
                layer.problems.append(f"{path}:{line}: {dotted(loc + (key,))}: given twice (also at line {first[key]})")
            first.setdefault(key, line)
            layer.origins.setdefault(loc + (key,), Origin(f"{path}:{line}"))
            _walk(value_node, path, loc + (key,), layer)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            layer.origins[loc + (i,)] = Origin(f"{path}:{item.start_mark.line + 1}")
            _walk(item, path, loc + (i,), layer)


def yaml_layer(path: str | Path, model: type[BaseModel], named_by: str | None = None) -> Layer:
    """The settings of the YAML file at ``path`` (``named_by``: where that path
    came from, when not the command line). A file that cannot be read or parsed
    raises :class:`ConfigError` at once: nothing in it can be trusted."""
    named = f" (named by {named_by})" if named_by else ""
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{path}{named}: is a directory, not a config file") from None
    except OSError as error:
        raise ConfigError(f"{path}{named}: cannot read the config file: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[error.start]:02x}); save the config file as UTF-8"
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    layer = Layer()
    if data is None:
        return layer
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of sections (source, sink, checkpoint, ...), got {_kind(data)}")
    _walk(node, str(path), (), layer)
    layer.data = _normalize(data)
    for key, value in list(layer.data.items()):
        info = model.model_fields.get(key)
        section = _section_model(info) if info is not None else None
        if section is None:
            layer.settings.add((key,))
            continue
        if value is None:  # a section whose keys are all commented out
            layer.data[key] = {}
        elif not isinstance(value, dict):
            layer.problems.append(f"{layer.origins[(key,)]}: {key}: expected a mapping of keys, got {_kind(value)}")
            layer.data[key] = {}
        layer.settings.update((key, k) for k in layer.data[key])
    split_uri_parameters(layer)
    return layer


def _kind(value: Any) -> str:
    return {str: "a string", list: "a list", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


# -- env vars ---------------------------------------------------------------------


def env_layer(environ: Mapping[str, str], model: type[BaseModel]) -> Layer:
    """The settings of the ``CDCSINK_*`` env vars (any case); every such variable
    that is not a setting, a ``*_FILE`` secret of one, or in :data:`NOT_SETTINGS`
    is a problem naming it."""
    fields = setting_fields(model)
    by_name = {env_name(loc): loc for loc in fields}
    sections = {ENV_PREFIX + name.upper() for name, info in model.model_fields.items() if _section_model(info)}
    layer = Layer()
    given: dict[Loc, str] = {}
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            if name == "CDCSINK_NO_EXTENSIONS":
                problem = speedups.switch_problem(environ[name])
                if problem is not None:
                    layer.problems.append(f"env {name}: {problem}")
            continue
        loc = by_name.get(upper)
        secret = False
        if loc is None and upper.endswith(SECRET_FILE_SUFFIX):
            loc = by_name.get(upper[: -len(SECRET_FILE_SUFFIX)])
            secret = loc is not None
        if loc is None:
            layer.problems.append(_unknown_env_var(name, upper, by_name, sections))
            continue
        value = environ[name]
        if secret:
            try:
                value = Path(value).read_text(encoding="utf-8").strip()
            except (OSError, ValueError) as error:
                reason = getattr(error, "strerror", None) or "not UTF-8 text"
                layer.problems.append(f"env {name}: cannot read {value}: {reason}")
                continue
        if loc in given:
            layer.problems.append(f"env {name}: {dotted(loc)} is also set by env {given[loc]}; set it once")
            continue
        given[loc] = name
        parsed: Any = value
        if _item_model(fields[loc]) is not None:
            try:
                parsed = json.loads(value)
            except ValueError as error:
                layer.problems.append(f"env {name}: {dotted(loc)} takes a JSON list (of {{matcher, topic, partition, columns}}): {error}")
                continue
        elif typing.get_origin(fields[loc].annotation) is dict:
            try:
                parsed = json.loads(value)
            except ValueError as error:
                layer.problems.append(f"env {name}: {dotted(loc)} takes a JSON object: {error}")
                continue
        _set(layer.data, loc, parsed)
        layer.origins[loc] = Origin(f"env {name}", secret_file=secret)
        layer.settings.add(loc)
    split_uri_parameters(layer)
    return layer


def _unknown_env_var(name: str, upper: str, by_name: Mapping[str, Loc], sections: set[str]) -> str:
    if upper in sections:
        return f"env {name}: names the section {upper[len(ENV_PREFIX):].lower()}; set its keys one by one, as {upper}__<KEY>"
    hint = "" if _SERVICE_LINK.match(upper) else did_you_mean(upper, [*by_name, *NOT_SETTINGS])
    if not hint and _SERVICE_LINK.match(upper):
        hint = " (set by Kubernetes for a Service named cdcsink: give the pod enableServiceLinks: false)"
    return f"env {name}: not a cdcsink setting{hint}"


# -- URI parameters, merging ------------------------------------------------------


def split_uri_parameters(layer: Layer) -> None:
    """Turn the layer's ``sink.uri`` parameters into ``sink:`` keys of the same
    layer; a parameter that disagrees with a key given there is a problem."""
    sink = layer.data.get("sink")
    if not isinstance(sink, dict) or not isinstance(sink.get("uri"), str):
        return
    origin = layer.origins.get(("sink", "uri"), Origin("sink.uri"))
    base, parameters, problems = split_uri(sink["uri"])
    layer.problems.extend(f"{origin}: sink.{problem}" for problem in problems)
    sink["uri"] = base
    for key, value in parameters:
        name = key.replace("-", "_")
        loc: Loc = ("sink", name)
        if name in sink:
            if not same_setting_value(sink[name], value):
                layer.problems.append(
                    f"{layer.origins.get(loc, origin)}: sink.{key}: {_mask(loc, sink[name])!r} here, but "
                    f"{key}={_mask(loc, value)} in sink.uri ({origin}); give it once"
                )
            continue
        sink[name] = value
        layer.origins[loc] = replace(origin, uri_parameter=True, secret_file=False)
        layer.settings.add(loc)


def merge(lower: Layer, upper: Layer) -> Layer:
    """``upper`` over ``lower``, setting by setting."""
    merged = Layer(
        copy.deepcopy(lower.data), dict(lower.origins), set(lower.settings), lower.problems + upper.problems
    )
    for loc in sorted(upper.settings, key=str):
        if loc in lower.settings and loc in lower.origins:
            merged.overridden[loc] = lower.origins[loc]
        _set(merged.data, loc, _get(upper.data, loc))
        for known in [k for k in merged.origins if k[: len(loc)] == loc]:
            del merged.origins[known]
        merged.origins[loc] = upper.origins[loc]
        merged.settings.add(loc)
    return merged


def problem_line(loc: Loc, message: str, origin: Origin | None) -> str:
    """``where: key: message``, e.g. ``cdcsink.yaml:6: sink.protocol (sink.uri parameter): ...``."""
    key = dotted(loc)
    if origin is not None and origin.uri_parameter:
        key += " (sink.uri parameter)"
    text = f"{key}: {message}" if key else message
    return f"{origin.where}: {text}" if origin is not None else text


def origin_of(loc: Loc, origins: Mapping[Loc, Origin]) -> Origin | None:
    """The origin of ``loc``, else of the nearest enclosing key. A sink key
    given nowhere is pinned to ``sink.uri``, where parameters are written."""
    for n in range(len(loc), 0, -1):
        found = origins.get(loc[:n])
        if found is not None:
            if n == 1 and loc[:1] == ("sink",) and ("sink", "uri") in origins:
                break
            return found
    if loc[:1] == ("sink",) and ("sink", "uri") in origins:
        return replace(origins[("sink", "uri")], uri_parameter=False)
    return None
