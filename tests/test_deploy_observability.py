"""deploy/grafana and deploy/prometheus (issue 17, "Dashboards"): the dashboard and the alert
rules name only metrics the services export, are well formed, and are wired into compose's
`observability` profile. `promtool check rules` runs where Debian's prometheus package is
installed; the checks here run everywhere."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.observability.metrics import Metrics
from tests.support.services import require_tool

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "myauthprovider.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# A name followed by a selector or a range: a series the expression reads.
SERIES = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def exported_series() -> set[str]:
    """Every series name the two services' registries expose, with Prometheus' suffixes."""
    metrics = Metrics("x")
    metrics.requests.labels("/r", "GET", "200").inc()
    metrics.latency.labels("/r").observe(0.1)
    metrics.tokens_issued.labels("client_credentials").inc()
    metrics.audit_events.labels("login_failed").inc()
    metrics.jwks_refreshes.labels("ok").inc()
    metrics.revocation_propagation.observe(0.2)
    text = metrics.render().body.decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    } | {"up"}  # Prometheus' own, per target


def series_in(expr: str) -> set[str]:
    return {name for name in SERIES.findall(expr) if name not in PROMQL_WORDS}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_dashboard_is_grafana_json_with_a_panel_per_concern() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]

    assert dashboard["uid"] == "myauthprovider" and isinstance(dashboard["schemaVersion"], int)
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert {"type", "title", "gridPos", "targets", "datasource"} <= panel.keys()
        assert panel["datasource"]["uid"] == "prometheus"
        assert all(target["expr"] and target["refId"] for target in panel["targets"])
    titles = " ".join(panel["title"] for panel in panels).lower()
    for concern in ("requests", "latency", "errors", "tokens", "sign-ins", "throttled",
                    "revocation", "jwks"):  # fmt: skip
        assert concern in titles, concern


def test_every_expression_reads_only_series_the_services_export() -> None:
    known = exported_series()
    exprs = dashboard_exprs() + [rule["expr"] for rule in alert_rules()]

    unknown = {name for expr in exprs for name in series_in(expr)} - known

    assert exprs and unknown == set()


def test_every_alert_rule_has_a_name_a_duration_a_severity_and_a_summary() -> None:
    rules = alert_rules()

    assert len({rule["alert"] for rule in rules}) == len(rules) >= 5
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"]


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = require_tool("promtool", "prometheus")
    result = subprocess.run(  # noqa: S603 - fixed argv
        [promtool, "check", "rules", str(ALERTS)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_observability_profile_mounts_these_files_and_scrapes_both_services() -> None:
    services = COMPOSE["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    scrape = yaml.safe_load(PROMETHEUS.read_text())

    assert prometheus["profiles"] == grafana["profiles"] == ["observability"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in prometheus["volumes"]
    assert scrape["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    targets = {
        t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets == {"auth:8000", "resource:8001"}
    assert services["auth"]["expose"] == ["8000"] and services["resource"]["expose"] == ["8001"]
