"""Every query of the Grafana dashboard (deploy/grafana/authserver.json) and of the alert rules
(deploy/prometheus/alerts.yml) names metrics that `authserver serve --workers 2` exports, with
labels those metrics carry and label values they take, checked against a scrape after traffic
that produces each kind of event."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.e2e.served_metrics import drive, scrape, served
from tests.promql import read

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: Labels Prometheus adds to every sample it scrapes (the target's), not in the exposition.
TARGET_LABELS = {"instance", "job"}
#: Series Prometheus makes itself for each target.
SYNTHETIC = {"up"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "authserver.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]  # fmt: skip
    for variable in dashboard["templating"]["list"]:
        # Grafana's label_values(metric, label): the metric must exist and carry the label.
        metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)",
                                     variable["query"]["query"]).groups()  # fmt: skip
        queries.append(f"count by ({label}) ({metric})")
    return queries


def alert_queries() -> list[str]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_every_dashboard_and_alert_query_names_what_the_server_exports(tmp_path):
    server = served(tmp_path)
    with server.running(workers=2):
        drive(server)
        samples = scrape(server)
    labels_of = {name: set().union(*(set(labels) for labels, _ in series))
                 for name, series in samples.items()}  # fmt: skip

    problems = []
    for source, queries in (("dashboard", dashboard_queries()), ("alerts", alert_queries())):
        for expr in queries:
            query = read(expr)
            assert query.metrics, expr
            for metric in query.metrics - SYNTHETIC:
                if metric not in samples:
                    problems.append(f"{source}: {metric} is not exported ({expr})")
            for metric, label, operator, wanted in query.matchers:
                if label in TARGET_LABELS or metric in SYNTHETIC:
                    continue
                if label not in labels_of.get(metric, set()):
                    problems.append(f"{source}: {metric} has no label {label} ({expr})")
                elif operator == "=" and wanted not in {
                    labels.get(label) for labels, _ in samples[metric]
                }:
                    problems.append(f"{source}: no {metric}{{{label}={wanted!r}}} ({expr})")
            carried = set().union(*(labels_of.get(m, set()) for m in query.metrics))
            for label in query.grouping - TARGET_LABELS - carried:
                problems.append(f"{source}: no metric of the query has label {label} ({expr})")
    assert problems == []
