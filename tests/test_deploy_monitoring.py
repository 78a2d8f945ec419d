"""deploy/: the Prometheus alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), and every query of the Grafana dashboard is PromQL promtool accepts.
promtool comes from Debian's `prometheus` package (`make system-deps`). Whether the metrics they
name are the ones a served process exports: tests/e2e/test_monitoring_queries.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.promql import GRAFANA_VARIABLES

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "authserver.json"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make system-deps` installs Debian's prometheus package"
    return path


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_alert_rules_pass_promtool_check(promtool):
    checked = run(promtool, "check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_alert_rules_pass_their_unit_tests(promtool):
    tested = run(promtool, "test", "rules", str(ALERTS.with_name("alerts.test.yml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_readme_alerts_are_the_shipped_ones():
    readme = (ALERTS.parents[2] / "README.md").read_text()
    shipped = {rule["alert"]: rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"]
               for rule in group["rules"]}  # fmt: skip
    for name in ("SigningKeyRetirementOverdue", "SigningKeyTooOld", "RetiredKeyStillSigning"):
        assert f"- alert: {name}" in readme
        assert f"expr: {shipped[name].strip()}" in readme, name


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]  # fmt: skip
    assert all(panel.get("targets") for panel in dashboard["panels"] if panel["type"] != "row")
    return queries


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    # promtool checks expressions in rule files: each query becomes a recording rule, with
    # Grafana's variables replaced as Grafana would.
    rules = []
    for index, query in enumerate(dashboard_queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        rules.append({"record": f"dashboard:query_{index}", "expr": query})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = run(promtool, "check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(rules) >= 15
