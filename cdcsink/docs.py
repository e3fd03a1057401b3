"""Reference tables generated from the code, so README cannot drift from it:
``python -m cdcsink.docs`` prints them; a test compares them with README."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from cdcsink.config import ENV_PREFIX, Settings
from cdcsink.kafka.config import KafkaSecurityConfig
from cdcsink.metrics import METRICS

ENV_BEGIN, ENV_END = "<!-- env-vars:begin -->", "<!-- env-vars:end -->"
METRICS_BEGIN, METRICS_END = "<!-- metrics:begin -->", "<!-- metrics:end -->"


def _default(field: Any) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "default_text" in extra:
        # A default computed at run time (a per-user path): the table shows its form.
        return str(extra["default_text"])
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return ""
    else:
        return "required"
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return ""
    return json.dumps(value) if not isinstance(value, str) else value


def _fields(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """The model's fields, shared connection settings (TLS, SASL) last."""
    shared = set(KafkaSecurityConfig.model_fields)
    fields = list(model.model_fields.items())
    return [f for f in fields if f[0] not in shared] + [f for f in fields if f[0] in shared]


def _rows(model: type[BaseModel], prefix: str, yaml_prefix: str) -> list[str]:
    rows = []
    for name, field in _fields(model):
        if field.exclude:
            continue
        annotation = field.annotation
        yaml_key = f"{yaml_prefix}{name.replace('_', '-')}"
        env = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, env + "__", yaml_key + "."))
            continue
        description = (field.description or "").replace("|", "\\|")
        default = _default(field).replace("|", "\\|")
        rows.append(f"| `{env}` | `{yaml_key}` | {f'`{default}`' if default else ''} | {description} |")
    return rows


def env_table() -> str:
    lines = ["| env var | YAML key | default | meaning |", "|---|---|---|---|"]
    lines += _rows(Settings, ENV_PREFIX, "")
    return "\n".join(lines)


def metrics_table() -> str:
    lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for name, (kind, labels, doc) in METRICS.items():
        all_labels = ", ".join(("changefeed",) + labels)
        lines.append(f"| `{name}` | {kind} | {all_labels} | {doc} |")
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["--write"]:
        from pathlib import Path

        readme = Path(sys.argv[2] if len(sys.argv) > 2 else "README.md")
        readme.write_text(render_readme(readme.read_text()))
        return 0
    print(ENV_BEGIN)
    print(env_table())
    print(ENV_END)
    print()
    print(METRICS_BEGIN)
    print(metrics_table())
    print(METRICS_END)
    return 0



def render_readme(text: str) -> str:
    """``text`` with the generated tables placed between their markers."""
    for begin, end, table in ((ENV_BEGIN, ENV_END, env_table()), (METRICS_BEGIN, METRICS_END, metrics_table())):
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = f"{head}{begin}\n{table}\n{end}{tail}"
    return text


if __name__ == "__main__":
    sys.exit(main())
