"""deploy/ cannot be run here (no Docker engine); these checks keep it parseable
and in step with the metrics the code exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from cdcsink.metrics import METRICS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KNOWN = set(METRICS) | {"up"}
SUFFIXES = ("_bucket", "_sum", "_count")
METRIC_NAME = re.compile(r"\b(cdcsink_[a-z_]+|up)\b(?!\s*\()")


def used_metrics(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))


def is_known(name: str) -> bool:
    if name in KNOWN:
        return True
    return any(name.endswith(s) and name[: -len(s)] in METRICS and METRICS[name[: -len(s)]][0] == "histogram" for s in SUFFIXES)


def test_every_yaml_parses():
    files = list(DEPLOY.rglob("*.yml")) + list(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 9
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())), path


def test_compose_stack():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert {"kafka", "cdcsink", "prometheus", "grafana"} <= set(compose["services"])
    sink = compose["services"]["cdcsink"]
    assert sink["environment"] and all(k.startswith("CDCSINK_") for k in sink["environment"])
    assert "/healthz" in " ".join(sink["healthcheck"]["test"])
    scrape = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["cdcsink:9108"]


def test_alert_rules_use_exported_metrics():
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert {"CdcsinkCheckpointLagHigh", "CdcsinkNoCheckpointProgress", "CdcsinkSendErrors", "CdcsinkRestarting"} <= names
    for rule in rules:
        assert rule["expr"] and rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        unknown = {m for m in used_metrics(rule["expr"]) if not is_known(m)}
        assert not unknown, f"{rule['alert']} uses {unknown}"
    promtool = shutil.which("promtool")
    if promtool:
        result = subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus/alerts.yml")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_uses_exported_metrics():
    dashboard = json.loads((DEPLOY / "grafana/dashboards/cdcsink.json").read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Send latency p50 / p99", "Checkpoint lag", "Send errors by error", "Restarts"} <= titles
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = used_metrics(target["expr"])
            assert names and all(is_known(n) for n in names), (panel["title"], names)


def test_kubernetes_probes():
    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes/statefulset.yaml").read_text())}
    container = docs["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9108}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9108}
    config = yaml.safe_load((DEPLOY / "kubernetes/configmap.yaml").read_text())["data"]["cdcsink.yaml"]
    assert yaml.safe_load(config)["sink"]["uri"].startswith("kafka://")
    kustomize = yaml.safe_load((DEPLOY / "kubernetes/kustomization.yaml").read_text())
    assert all((DEPLOY / "kubernetes" / r).exists() for r in kustomize["resources"])


def test_dockerfile_promises():
    text = (DEPLOY.parent / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and all("slim" in s for s in stages)
    final = text.split(stages[-1], 1)[1]
    assert "USER cdcsink" in final and "useradd" in final
    assert "HEALTHCHECK" in final and "/healthz" in final
    assert 'ENTRYPOINT ["cdcsink"]' in final and 'CMD ["run"]' in final
    assert "gcc" not in final and "build-essential" not in final
