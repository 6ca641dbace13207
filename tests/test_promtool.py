"""The rendered Prometheus configuration, the rules and the dashboards' queries, checked by the
real promtool."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import require_tool

from components.workloads.monitoring_exporters import KUBE_STATE_LABELS
from components.workloads.monitoring_grafana import DASHBOARDS_DIR, DATASOURCE_UID
from components.workloads.monitoring_prometheus import RULES_DIR, SERVICE_ACCOUNT_DIR

RULE_TESTS_DIR = RULES_DIR.parent / "tests"

# What Prometheus documents for kubernetes_sd_configs (Debian's promtool cannot check it).
KUBERNETES_SD_ROLES = {"node", "pod", "service", "endpoints", "endpointslice", "ingress"}
KUBERNETES_SD_KEYS = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file",
                      "attach_metadata", "follow_redirects", "tls_config", "authorization"}

# Grafana's variables, replaced the way Grafana does before it sends a query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "1h"}


def promtool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("promtool"), *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False)


def rendered_prometheus(rendered) -> tuple[dict, dict[str, str]]:
    folder = rendered("local-demo") / "files" / "monitoring"
    config = yaml.safe_load((folder / "prometheus-config" / "prometheus.yml").read_text())
    rules = {path.name: path.read_text()
             for path in sorted((folder / "prometheus-rules").iterdir())}
    return config, rules


def for_debian_promtool(config: dict, service_account: Path, targets: Path) -> dict:
    """The same configuration, with Kubernetes discovery (which Debian's build of promtool
    lacks) replaced by file discovery, and the pod's service account files by local ones.
    Everything else - relabelling, rule files, scrape settings - is checked as written."""
    text = json.dumps(config).replace(SERVICE_ACCOUNT_DIR, str(service_account))
    translated = json.loads(text)
    for job in translated["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            target_file = targets / f"{job['job_name']}.json"
            target_file.write_text("[]")
            job["file_sd_configs"] = [{"files": [str(target_file)]}]
    return translated


def test_rendered_config_passes_promtool_check_config(rendered, tmp_path):
    config, rules = rendered_prometheus(rendered)
    service_account = tmp_path / "serviceaccount"
    service_account.mkdir()
    (service_account / "token").write_text("token")
    (service_account / "ca.crt").write_text("")
    targets = tmp_path / "targets"
    targets.mkdir()
    # the pod's layout: prometheus.yml with the rules in rules/ beside it
    (tmp_path / "rules").mkdir()
    for name, text in rules.items():
        (tmp_path / "rules" / name).write_text(text)
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(for_debian_promtool(config, service_account, targets)))

    result = promtool("check", "config", config_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rule files found" in result.stdout + result.stderr


def test_kubernetes_discovery_blocks_are_well_formed(rendered):
    config, _ = rendered_prometheus(rendered)
    blocks = [(job["job_name"], block) for job in config["scrape_configs"]
              for block in job.get("kubernetes_sd_configs", [])]
    assert {name for name, _ in blocks} == {"kubernetes-nodes", "kubernetes-cadvisor",
                                            "kubernetes-pods", "node-exporter"}
    for name, block in blocks:
        assert block["role"] in KUBERNETES_SD_ROLES, name
        assert set(block) <= KUBERNETES_SD_KEYS, name
        if "namespaces" in block:
            assert set(block["namespaces"]) <= {"names", "own_namespace"}, name
            assert all(isinstance(n, str) for n in block["namespaces"]["names"]), name


def test_scrape_jobs(rendered):
    config, _ = rendered_prometheus(rendered)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "kubernetes-nodes", "kubernetes-cadvisor",
                         "kubernetes-pods", "node-exporter", "kube-state-metrics",
                         "pushgateway", "blackbox-http"}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pushgateway"]["static_configs"] == [
        {"targets": ["pushgateway.monitoring.svc.cluster.local:9091"]}]
    assert jobs["kubernetes-cadvisor"]["relabel_configs"][1]["replacement"] == \
        "/api/v1/nodes/$1/proxy/metrics/cadvisor"
    assert jobs["blackbox-http"]["static_configs"] == [{
        "targets": ["http://countly-api.demo.svc.cluster.local:3001/o/ping"],
        "labels": {"probe": "countly-api"}}]
    assert config["rule_files"] == ["rules/*.yml"]


def test_rendered_rules_are_the_repository_files(rendered):
    _, rules = rendered_prometheus(rendered)
    assert rules == {path.name: path.read_text() for path in RULES_DIR.glob("*.yml")}


def test_rules_pass_promtool_check_rules():
    result = promtool("check", "rules", *sorted(RULES_DIR.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass_promtool_test_rules():
    tests = sorted(RULE_TESTS_DIR.glob("*.test.yml"))
    assert tests
    result = promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not():
    alerts = {rule["alert"] for path in RULES_DIR.glob("*.yml")
              for group in yaml.safe_load(path.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    assert alerts == {"CountlyApiErrors", "CountlyApiSlow", "MongoDBMemberDown",
                      "BenchmarkRunHadErrors"}
    cases = [case for path in RULE_TESTS_DIR.glob("*.test.yml")
             for test in yaml.safe_load(path.read_text())["tests"]
             for case in test.get("alert_rule_test", [])]
    fired = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert alerts <= fired, f"alerts no test fires: {alerts - fired}"
    assert alerts <= quiet, f"alerts no test keeps quiet: {alerts - quiet}"


def kube_state_label(key: str) -> str:
    """The label kube-state-metrics gives a Kubernetes label in kube_pod_labels."""
    return "label_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


def series_labels(series: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', series))


def test_the_mongodb_alert_is_tested_with_the_labels_real_pods_have(rendered):
    exported = KUBE_STATE_LABELS.split(",")
    templates = {}
    for path in (rendered("local-demo") / "manifests").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        template = (obj.get("spec") or {}).get("template")
        if template:
            templates[obj["metadata"]["name"]] = template["metadata"]["labels"]
    pods = [series_labels(series["series"])
            for path in RULE_TESTS_DIR.glob("*.test.yml")
            for test in yaml.safe_load(path.read_text())["tests"]
            for series in test.get("input_series", [])
            if series["series"].startswith("kube_pod_labels{")]
    assert pods
    for labels in pods:
        # a pod is named after its workload: <StatefulSet>-<n>, <Job>-<id>, <Deployment>-<ids>
        owner = max((name for name in templates if labels["pod"].startswith(f"{name}-")),
                    key=len, default=None)
        assert owner, f"no rendered workload runs a pod named {labels['pod']}"
        expected = {kube_state_label(key): value for key, value in templates[owner].items()
                    if key in exported}
        assert {k: v for k, v in labels.items() if k.startswith("label_")} == expected, owner


def test_the_rules_read_only_pod_labels_kube_state_metrics_exports():
    exported = {kube_state_label(key) for key in KUBE_STATE_LABELS.split(",")}
    for path in RULES_DIR.glob("*.yml"):
        used = set(re.findall(r"\blabel_\w+", path.read_text()))
        assert used <= exported, (path.name, used - exported)


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) for every panel query of every dashboard."""
    queries = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                queries.append((path.name, panel["title"], target["expr"]))
    return queries


def as_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    # dashboard variables sit inside regex matchers: any value, as "All" would send
    return re.sub(r"\$\{?[a-z_]+\}?", ".*", expr)


def check_as_recording_rules(expressions: list[str], folder: Path) -> subprocess.CompletedProcess:
    """promtool has no "parse this query" command; a recording rule's expression is parsed by
    `check rules`, so each query becomes one."""
    rules = {"groups": [{"name": "dashboard-queries", "rules": [
        {"record": f"dashboard:query_{number}", "expr": expr}
        for number, expr in enumerate(expressions)]}]}
    path = folder / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    return promtool("check", "rules", path)


def test_every_dashboard_query_parses(tmp_path):
    queries = dashboard_queries()
    assert {name for name, _, _ in queries} == {"cluster-overview.json", "countly-mongodb.json",
                                                "benchmark-results.json"}
    result = check_as_recording_rules([as_promql(expr) for _, _, expr in queries], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


@pytest.mark.parametrize("broken", ["sum by (namespace (up)", "rate(up[5x])", "up{job=}"])
def test_a_query_that_does_not_parse_is_caught(tmp_path, broken):
    result = check_as_recording_rules(["up", broken], tmp_path)
    assert result.returncode != 0


def test_dashboards_use_the_provisioned_data_source():
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"].startswith("cncfdemo-"), path.name
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == DATASOURCE_UID, (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == DATASOURCE_UID, (path.name, panel["title"])
