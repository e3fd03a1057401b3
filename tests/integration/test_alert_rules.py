"""The shipped alert rules (deploy/prometheus/alerts.yml) run by promtool against
synthetic series (deploy/prometheus/alerts.test.yml): each alert fires on a bad
series and stays quiet on a healthy one.

promtool comes from Debian's ``prometheus`` package, which .ci/run installs when
it is missing. Under CI (``CI=true``) a missing promtool fails the test; on a
developer's machine the test is skipped with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
TESTS = PROMETHEUS / "alerts.test.yml"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is not None:
        return path
    message = "promtool is not installed: run .ci/run, or apt-get install prometheus (Debian puts it in /usr/bin)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def alert_names() -> set[str]:
    return {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}


def test_every_alert_has_a_firing_and_a_quiet_case():
    config = yaml.safe_load(TESTS.read_text())
    assert config["rule_files"] == [RULES.name]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in config["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alert_names() - fires == set(), "alerts never shown to fire"
    assert alert_names() - quiet == set(), "alerts never shown to stay quiet"


def test_promtool_runs_the_alert_tests():
    result = subprocess.run([promtool(), "test", "rules", TESTS.name], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
