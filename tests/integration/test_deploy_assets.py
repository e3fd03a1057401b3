"""deploy/ cannot be run here (no Docker engine, no cluster): these checks keep its files
parseable, consistent with each other, and in step with the metrics and config cdcsink has.

No broker is needed; every check reads files only (promtool runs when it is on the PATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"

#: The metrics cdcsink exports, name -> type; every one also carries a `changefeed` label.
#: Alerts and dashboard panels may only use these (and `up`). To take the list from the code
#: instead: ``METRIC_TYPES = {name: spec[0] for name, spec in cdcsink.metrics.METRICS.items()}``.
METRIC_TYPES: dict[str, str] = {
    "cdcsink_events_received_total": "counter",
    "cdcsink_events_acked_total": "counter",
    "cdcsink_invalid_events_total": "counter",
    "cdcsink_messages_sent_total": "counter",
    "cdcsink_bytes_sent_total": "counter",
    "cdcsink_send_errors_total": "counter",
    "cdcsink_send_latency_seconds": "histogram",
    "cdcsink_batch_size": "histogram",
    "cdcsink_read_to_ack_seconds": "histogram",
    "cdcsink_checkpoint_ts": "gauge",
    "cdcsink_resolved_ts": "gauge",
    "cdcsink_checkpoint_lag_seconds": "gauge",
    "cdcsink_checkpoint_writes_total": "counter",
    "cdcsink_pipeline_queue_depth": "gauge",
    "cdcsink_inflight_messages": "gauge",
    "cdcsink_restarts_total": "counter",
    "cdcsink_ddl_duration_seconds": "histogram",
    "cdcsink_large_messages_total": "counter",
    "cdcsink_source_lag": "gauge",
    "cdcsink_kafka_broker_rtt_seconds": "gauge",
    "cdcsink_kafka_broker_outbuf_requests": "gauge",
    "cdcsink_kafka_broker_waitresp_requests": "gauge",
    "cdcsink_kafka_retries_total": "counter",
    "cdcsink_kafka_queue_messages": "gauge",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

EXPECTED_FILES = [
    "README.md",
    "data/.gitkeep",
    "docker-compose.yml",
    "prometheus/prometheus.yml",
    "prometheus/alerts.yml",
    "grafana/provisioning/datasources/prometheus.yml",
    "grafana/provisioning/dashboards/cdcsink.yml",
    "grafana/dashboards/cdcsink.json",
    "kubernetes/configmap.yaml",
    "kubernetes/statefulset.yaml",
    "kubernetes/service.yaml",
    "kubernetes/servicemonitor.yaml",
    "kubernetes/kustomization.yaml",
]
ALERTS = {
    "CdcsinkCheckpointLagHigh",
    "CdcsinkNoCheckpointProgress",
    "CdcsinkSendErrors",
    "CdcsinkRestarting",
    "CdcsinkDown",
}
PANEL_TITLES = {
    "Events/s received and acked",
    "Messages/s by topic",
    "Bytes/s by topic",
    "Send latency p50 / p99",
    "Checkpoint lag",
    "Checkpoint ts progress",
    "Send errors by error",
    "Invalid events by reason",
    "Restarts",
    "In-flight messages",
    "Queue depth by stage",
}
#: The Kafka client row: librdkafka's statistics (kafka-client=confluent).
CLIENT_PANEL_TITLES = ["Broker RTT p50 / p99", "Broker requests waiting and in flight", "Client retries/s", "Client queue messages"]
HTTP_PORT = 9108


# --- helpers ----------------------------------------------------------------------------

def load(relpath: str) -> Any:
    return yaml.safe_load((DEPLOY / relpath).read_text())


def k8s(name: str) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return doc


def compose() -> dict[str, Any]:
    return load("docker-compose.yml")


def compose_env(service: str) -> dict[str, str]:
    env = compose()["services"][service]["environment"]
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load("prometheus/alerts.yml")["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana/dashboards/cdcsink.json").read_text())


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")
_NOT_METRICS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                "group_left", "group_right", "inf", "nan", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers left once strings, label
    matchers ``{...}``, ranges ``[...]``, label lists ``by (...)``, Grafana ``$variables``,
    function names and keywords are taken out."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names = set()
    for match in _IDENT.finditer(text):
        if text[match.end():].lstrip().startswith("("):
            continue  # a function: rate(, histogram_quantile(, sum(, ...
        if match.group() not in _NOT_METRICS:
            names.add(match.group())
    return names


def unknown_metrics(expr: str) -> set[str]:
    """Names in ``expr`` that are neither ``up`` nor a metric cdcsink exports (a histogram's
    ``_bucket``/``_sum``/``_count`` series count as exported)."""
    def known(name: str) -> bool:
        if name == "up" or name in METRIC_TYPES:
            return True
        return any(
            name.endswith(s) and METRIC_TYPES.get(name[: -len(s)]) == "histogram" for s in HISTOGRAM_SUFFIXES
        )

    return {name for name in metric_names(expr) if not known(name)}


@pytest.fixture
def cdcsink_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No CDCSINK_* variable of this shell (e.g. CDCSINK_TEST_BOOTSTRAP) and no
    /etc/cdcsink/cdcsink.yaml of this machine leak into a load_settings() call."""
    import cdcsink.config

    for name in list(os.environ):
        if name.startswith("CDCSINK_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(cdcsink.config, "DEFAULT_CONFIG", tmp_path / "absent.yaml")
    return monkeypatch


# --- all files ------------------------------------------------------------------------

def test_every_deploy_file_exists_and_every_yaml_parses():
    missing = [p for p in EXPECTED_FILES if not (DEPLOY / p).is_file()]
    assert not missing, f"missing under deploy/: {missing}"
    files = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
    assert len(files) >= 10
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs and all(isinstance(d, dict) for d in docs), f"{path}: not a YAML mapping"


def test_metric_scanner_finds_every_metric_name():
    # The drift checks below rely on this: a scanner that found nothing would pass anything.
    expr = (
        'histogram_quantile(0.99, sum by (changefeed, le) (rate(foo_seconds_bucket{topic=~"cdcsink_x"}'
        '[$__rate_interval]))) > 1e3 and on (job) up{job="cdcsink"} offset 5m or bar_total * baz'
    )
    assert metric_names(expr) == {"foo_seconds_bucket", "up", "bar_total", "baz"}
    assert unknown_metrics("rate(cdcsink_send_latency_seconds_bucket[5m]) + cdcsink_checkpoint_ts") == set()
    assert unknown_metrics("rate(cdcsink_checkpoint_ts_bucket[5m]) + kafka_lag + cdcsink_nope") == {
        "cdcsink_checkpoint_ts_bucket", "kafka_lag", "cdcsink_nope"
    }


def test_metric_list_matches_what_the_code_exports():
    from cdcsink.metrics import METRICS

    exported = {name: spec[0] for name, spec in METRICS.items()}
    wrong = {name: kind for name, kind in METRIC_TYPES.items() if exported.get(name) != kind}
    assert not wrong, f"not exported by cdcsink.metrics with this type: {wrong}"


# --- docker compose ---------------------------------------------------------------------

def test_compose_services():
    services = compose()["services"]
    assert {"kafka", "cdcsink", "prometheus", "grafana"} <= set(services)

    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.0"
    kafka_env = compose_env("kafka")
    assert "broker" in kafka_env["KAFKA_PROCESS_ROLES"] and "controller" in kafka_env["KAFKA_PROCESS_ROLES"]
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert "//kafka:9092" in advertised and "//localhost:29092" in advertised
    assert "29092:29092" in kafka["ports"]
    assert kafka_env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert kafka["healthcheck"]["test"]

    sink = services["cdcsink"]
    assert sink["build"] in ("..", {"context": ".."})
    assert sink["depends_on"]["kafka"]["condition"] == "service_healthy"
    env = compose_env("cdcsink")
    assert env and all(k.startswith("CDCSINK_") for k in env), [k for k in env if not k.startswith("CDCSINK_")]
    assert "/healthz" in " ".join(sink["healthcheck"]["test"])
    assert f"{HTTP_PORT}:{HTTP_PORT}" in sink["ports"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in sink["volumes"]}
    assert mounts["/data"] == "./data"
    assert mounts["/var/lib/cdcsink"] in compose()["volumes"], "the checkpoint needs a named volume"

    assert "9090:9090" in services["prometheus"]["ports"]
    assert "3000:3000" in services["grafana"]["ports"]


def test_compose_env_is_a_valid_cdcsink_config(cdcsink_env):
    from cdcsink.config import load_settings

    for name, value in compose_env("cdcsink").items():
        cdcsink_env.setenv(name, value)
    settings = load_settings()
    assert settings.source.type == "file" and settings.source.path == ["/data/events.ndjson"]
    assert settings.source.follow is True
    assert settings.sink.brokers == ["kafka:9092"] and settings.sink.protocol == "canal-json"
    assert settings.sink.enable_tidb_extension is True
    assert settings.checkpoint.store.startswith("file:///var/lib/cdcsink/")
    assert settings.http.port == HTTP_PORT
    # Every variable names a real setting (load_settings also refuses unknown ones).
    for name in compose_env("cdcsink"):
        keys = name.removeprefix("CDCSINK_").lower().split("__")
        node: Any = settings
        for key in keys:
            assert hasattr(node, key), f"{name}: no setting {'.'.join(keys)}"
            node = getattr(node, key)


def test_prometheus_scrapes_cdcsink_and_loads_the_rules():
    config = load("prometheus/prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "cdcsink"]
    assert job.get("scrape_interval", config["global"]["scrape_interval"]) == "5s"
    (static,) = job["static_configs"]
    assert static["targets"] == [f"cdcsink:{HTTP_PORT}"]
    # `up` carries the changefeed only through this label; it must be the daemon's.
    assert static["labels"]["changefeed"] == compose_env("cdcsink")["CDCSINK_CHANGEFEED"]
    assert job["honor_labels"] is True, "else cdcsink's own changefeed label becomes exported_changefeed"

    mounts = dict(v.split(":")[:2] for v in compose()["services"]["prometheus"]["volumes"] if v.startswith("./"))
    assert mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert config["rule_files"] == [mounts["./prometheus/alerts.yml"]]


# --- alerts ----------------------------------------------------------------------------------

def test_alert_rules():
    config = load("prometheus/alerts.yml")
    assert [g["name"] for g in config["groups"]] == ["cdcsink"]
    rules = alert_rules()
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        name = rule["alert"]
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        text = annotations["summary"] + annotations["description"]
        assert "$labels.changefeed" in text, f"{name}: annotations do not name the changefeed"
        assert text.count("{{") == text.count("}}"), f"{name}: unbalanced template"
    severities = {r["labels"]["severity"] for r in rules if r["alert"] == "CdcsinkCheckpointLagHigh"}
    assert severities == {"warning", "critical"}


def test_alerts_use_only_exported_metrics():
    for rule in alert_rules():
        used = metric_names(rule["expr"])
        assert used, f"{rule['alert']}: no metric in {rule['expr']!r}"
        assert not unknown_metrics(rule["expr"]), f"{rule['alert']} uses {unknown_metrics(rule['expr'])}"


def test_promtool_accepts_the_rules_when_available():
    promtool = shutil.which("promtool")
    if promtool is None:
        return  # not installed here; the structural checks above still ran
    result = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "prometheus/alerts.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- grafana --------------------------------------------------------------------------------

def test_dashboard_panels():
    board = dashboard()
    panels = board["panels"]
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles)), "duplicate panel titles"
    assert PANEL_TITLES <= set(titles), f"missing panels: {PANEL_TITLES - set(titles)}"
    assert len({p["id"] for p in panels}) == len(panels)
    rows = [p for p in panels if p["type"] == "row"]
    panels = [p for p in panels if p["type"] != "row"]
    (client_row,) = [r for r in rows if "kafka-client=confluent" in r["title"]]
    below_row = [p["title"] for p in panels if p["gridPos"]["y"] > client_row["gridPos"]["y"]]
    assert below_row == CLIENT_PANEL_TITLES
    for panel in panels:
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    latency = next(p for p in panels if p["title"] == "Send latency p50 / p99")
    quantiles = " ".join(t["expr"] for t in latency["targets"])
    assert "histogram_quantile(0.5," in quantiles and "histogram_quantile(0.99," in quantiles


def test_dashboard_uses_only_exported_metrics():
    board = dashboard()
    exprs = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            # Grafana's label_values(<series selector>, <label>): the selector is PromQL.
            selector = re.fullmatch(r"\s*label_values\((.+),\s*\w+\s*\)\s*", variable["definition"])
            assert selector, f"variable {variable['name']}: expected label_values(...)"
            exprs.append((f"variable {variable['name']}", selector.group(1)))
    for where, expr in exprs:
        assert metric_names(expr), f"{where}: no metric in {expr!r}"
        assert not unknown_metrics(expr), f"{where} uses {unknown_metrics(expr)}"


def test_grafana_provisioning_matches_the_dashboard_and_compose():
    (datasource,) = load("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    board = dashboard()
    uids = {p["datasource"]["uid"] for p in board["panels"]}
    uids |= {t["datasource"]["uid"] for p in board["panels"] for t in p.get("targets", []) if "datasource" in t}
    assert uids == {datasource["uid"]}

    (provider,) = load("grafana/provisioning/dashboards/cdcsink.yml")["providers"]
    mounts = dict(v.split(":")[:2] for v in compose()["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


# --- kubernetes ---------------------------------------------------------------------------------

def test_kustomization_lists_every_manifest():
    resources = load("kubernetes/kustomization.yaml")["resources"]
    manifests = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(resources) == manifests
    assert {"configmap.yaml", "statefulset.yaml", "service.yaml", "servicemonitor.yaml"} <= set(resources)


def test_statefulset():
    sts = k8s("statefulset.yaml")
    assert sts["kind"] == "StatefulSet" and sts["spec"]["replicas"] == 1
    pod = sts["spec"]["template"]
    spec = pod["spec"]
    assert spec["terminationGracePeriodSeconds"] >= 60
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001 and "fsGroup" in spec["securityContext"]
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true", "prometheus.io/port": str(HTTP_PORT), "prometheus.io/path": "/metrics"
    }

    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": HTTP_PORT}

    def probe(kind: str) -> tuple[str, int]:
        get = container[kind]["httpGet"]
        port = ports.get(get["port"], get["port"])  # a named port resolves to its number
        return get["path"], port

    assert probe("livenessProbe") == ("/healthz", HTTP_PORT)
    assert probe("readinessProbe") == ("/readyz", HTTP_PORT)

    memory = container["resources"]["requests"]["memory"], container["resources"]["limits"]["memory"]
    assert memory[0] == "256Mi" and memory[1] in ("256Mi", "384Mi", "512Mi")

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert mounts[claim["metadata"]["name"]] == "/var/lib/cdcsink"
    config_volume = next(v for v in spec["volumes"] if "configMap" in v)
    assert config_volume["configMap"]["name"] == k8s("configmap.yaml")["metadata"]["name"]
    assert mounts[config_volume["name"]] == "/etc/cdcsink"


def test_configmap_is_a_valid_cdcsink_config(cdcsink_env, tmp_path: Path):
    from cdcsink.config import load_settings

    configmap = k8s("configmap.yaml")
    path = tmp_path / "cdcsink.yaml"
    path.write_text(configmap["data"]["cdcsink.yaml"])
    settings = load_settings(path)
    assert settings.sink.brokers == ["kafka-bootstrap:9092"]
    assert {settings.source.type, settings.checkpoint.store.split("://")[0]} == {"file"}
    assert settings.checkpoint.store.startswith("file:///var/lib/cdcsink/"), "must be on the volume claim"
    assert settings.http.port == HTTP_PORT
    sts = k8s("statefulset.yaml")
    assert sts["spec"]["template"]["metadata"]["labels"]["changefeed"] == settings.changefeed
    assert settings.shutdown_timeout < sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


def test_service_and_servicemonitor_select_the_pod():
    sts = k8s("statefulset.yaml")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    service = k8s("service.yaml")
    assert service["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["metrics"] == HTTP_PORT

    monitor = k8s("servicemonitor.yaml")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "changefeed" in monitor["spec"]["podTargetLabels"]


def test_readme_matches_the_stack():
    readme = (DEPLOY / "README.md").read_text()
    assert "docker compose -f deploy/docker-compose.yml up --build" in readme
    assert "CDCSINK_TEST_BOOTSTRAP=localhost:29092 make test" in readme
    assert "kafka-console-consumer.sh" in readme and "deploy/data/events.ndjson" in readme
    for port in ("3000", "9090", str(HTTP_PORT), "29092"):
        assert port in readme, port
    default_topic = compose_env("cdcsink")["CDCSINK_SINK__URI"].split("/")[3].split("?")[0]
    assert f"--topic {default_topic}" in readme


# --- the image ---------------------------------------------------------------------------------

def dockerfile_runtime_stage() -> str:
    """The Dockerfile's last stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return text.rsplit("\nFROM ", 1)[1]


def test_dockerfile_promises():
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and all(s.startswith("FROM ${PYTHON_IMAGE}") for s in stages)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    final = dockerfile_runtime_stage()
    assert "HEALTHCHECK" in final and "/healthz" in final and "CDCSINK_HTTP__PORT" in final
    assert f"EXPOSE {HTTP_PORT}" in final
    assert 'ENTRYPOINT ["cdcsink"]' in final and 'CMD ["run"]' in final
    assert "gcc" not in final and "build-essential" not in final
    # README: JSON logs, the checkpoint in the /var/lib/cdcsink volume, a mounted /etc/cdcsink config.
    assert "CDCSINK_LOG__FORMAT=json" in final
    assert "CDCSINK_CHECKPOINT__STORE=file:///var/lib/cdcsink/" in final and 'VOLUME ["/var/lib/cdcsink"]' in final
    from cdcsink.config import DEFAULT_CONFIG

    assert re.search(rf"install --directory --owner \d+ --group \d+ [^\n]*{DEFAULT_CONFIG.parent}\b", final)


def test_the_image_user_is_the_statefulsets_user_and_group():
    # The pod runs as runAsUser:runAsGroup with fsGroup on its volumes; the image must make
    # the same user and group (a file written as another gid is foreign on the volume).
    final = dockerfile_runtime_stage()
    groupadd = re.search(r"groupadd [^&\n]*--gid (\d+) (\w+)", final)
    useradd = re.search(r"useradd [^&\n]*--uid (\d+) [^&\n]*--gid (\d+)", final)
    user = re.search(r"^USER (\d+):(\d+)$", final, re.M)
    assert groupadd and useradd and user, "the runtime stage must create the group and user and run as uid:gid"
    uid, gid = int(useradd[1]), int(useradd[2])
    assert int(groupadd[1]) == gid and (int(user[1]), int(user[2])) == (uid, gid)
    state = re.search(r"install --directory --owner (\d+) --group (\d+) [^\n]*/var/lib/cdcsink\b", final)
    assert state and (int(state[1]), int(state[2])) == (uid, gid), "the state volume must belong to the user"
    context = k8s("statefulset.yaml")["spec"]["template"]["spec"]["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (uid, gid, gid)


def test_the_image_users_home_is_not_the_state_volume():
    # A home in the volume puts .bashrc and .profile beside checkpoint.json.
    useradd = re.search(r"useradd [^&\n]*", dockerfile_runtime_stage())
    assert useradd
    home = re.search(r"--home-dir (\S+)", useradd[0])
    assert home and not home[1].startswith("/var/lib/cdcsink"), useradd[0]
    assert "--create-home" not in useradd[0] and not re.search(r"\s-m\b", useradd[0]), "no skeleton files"
