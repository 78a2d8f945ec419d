"""Just enough PromQL reading to check monitoring files against a scrape: the metrics a query
selects, its label matchers and its grouping labels. Not a parser: it reads the queries this
repository ships (deploy/), which use no string containing braces or parentheses."""

from __future__ import annotations

import dataclasses
import re

_IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"({_IDENT})?\s*\{{([^}}]*)\}}")
_MATCHER = re.compile(rf"\s*({_IDENT})\s*(=~|!~|!=|=)\s*\"([^\"]*)\"\s*,?")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
             "unless", "offset", "inf", "nan"}  # fmt: skip
#: Grafana's variables, as Grafana would substitute them for the checks.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$instance": ".*"}


@dataclasses.dataclass
class Query:
    metrics: set[str]
    matchers: list[tuple[str, str, str, str]]  # metric, label, operator, value
    grouping: set[str]


def read(expr: str) -> Query:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    metrics: set[str] = set()
    matchers = []
    for name, body in _SELECTOR.findall(expr):
        if name:
            metrics.add(name)
        rest = body
        for label, operator, value in _MATCHER.findall(body):
            if label == "__name__" and operator == "=":
                metrics.add(value)
            matchers.append((name, label, operator, value))
        rest = _MATCHER.sub("", body).strip()
        assert not rest, f"unread matcher text {rest!r} in {expr!r}"
    expr = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", expr)
    grouping = {label.strip() for _, labels in _GROUPING.findall(expr)
                for label in labels.split(",") if label.strip()}  # fmt: skip
    expr = _GROUPING.sub(" ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries
    expr = re.sub(r'"[^"]*"', " ", expr)
    expr = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?[smhdwy]?\b", " ", expr)  # numbers
    for match in re.finditer(rf"({_IDENT})(\s*\()?", expr):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        metrics.add(word)
    return Query(metrics, matchers, grouping)
