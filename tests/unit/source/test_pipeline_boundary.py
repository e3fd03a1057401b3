"""The pipeline knows sources only through :mod:`cdcsink.source`'s protocols: adding a
source never touches it."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import cdcsink.pipeline
from cdcsink.source.config import SOURCES


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # ``from package import submodule`` imports a module too.
            names.update(f"{node.module}.{alias.name}" for alias in node.names if _is_module(f"{node.module}.{alias.name}"))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_pipeline_imports_nothing_below_cdcsink_source():
    below = {name for name in imported_modules(Path(cdcsink.pipeline.__file__)) if name.startswith("cdcsink.source.")}
    # The protocols (cdcsink.source) and the registry that builds a source from its config.
    assert below <= {"cdcsink.source.config"}, below


def test_the_pipeline_names_no_source_type():
    text = Path(cdcsink.pipeline.__file__).read_text()
    for kind in SOURCES:
        assert f'"{kind}"' not in text, kind
    for name in ("isinstance(self.source", "getattr(self.source", "getattr(self.store", "KafkaSource", "StdinSource"):
        assert name not in text, name


def test_every_registered_source_builds_from_its_config_and_offers_the_whole_interface():
    from cdcsink.source.config import SourceConfig, build_source

    configs = {
        "file": SourceConfig(type="file", path=["/dev/null"]),
        "stdin": SourceConfig(type="stdin"),
        "kafka": SourceConfig(type="kafka", bootstrap=["127.0.0.1:9092"], topics=["in"], group="g"),
    }
    assert set(configs) <= set(SOURCES)
    for kind, config in configs.items():
        source = build_source(config)
        for method in ("checkpoint_store", "start_from", "read", "take", "finish", "close"):
            assert callable(getattr(source, method)), (kind, method)
        assert isinstance(source.description, str) and source.description
