from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from cdcsink.config import Settings, load_settings

CONFIG = Path(__file__).resolve().parents[3] / "config"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("CDCSINK_"):
            monkeypatch.delenv(name)


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = prefix + name.replace("_", "-")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out.extend(keys(field.annotation, key + "."))
        else:
            out.append(key)
    return out


def test_reference_config_documents_every_key():
    text = (CONFIG / "cdcsink.yaml").read_text()
    # Keys shown commented out (no default, or files that must exist) count as documented.
    for key in ("partition-num", "kafka-version", "kafka-client-id", "enable-tls", "ca", "cert", "key",
                "sasl-mechanism", "sasl-user", "sasl-password", "sasl-oauth-token-file",
                "bootstrap", "topics", "topic-pattern", "group", "dsn"):
        text = text.replace(f"  # {key}: ", f"  {key}: ")
    uncommented = yaml.safe_load(text)
    for key in keys(Settings):
        node = uncommented
        for part in key.split("."):
            assert part in node, f"config/cdcsink.yaml does not document {key}"
            node = node[part]


@pytest.mark.parametrize("name", ["cdcsink.yaml", "sample.yaml", *[f"examples/{p.name}" for p in (CONFIG / "examples").glob("*.yaml")]])
def test_shipped_configs_load(name):
    settings = load_settings(CONFIG / name)
    assert settings.sink.topic and settings.sink.protocol
