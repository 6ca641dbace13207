"""Platform and monitoring under mocks: namespaces, priorities, objects, hardening, secrets."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import PINNED_IMAGE

from cncfdemo.harness import is_secret
from cncfdemo.render import kubernetes_object
from components.workloads.monitoring_grafana import dashboard_files
from components.workloads.monitoring_prometheus import rule_files
from components.workloads.platform import BACKGROUND_PRIORITY, FOREGROUND_PRIORITY

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# The pods that talk to the Kubernetes API and so carry a service account token.
API_CLIENTS = {"prometheus", "kube-state-metrics"}


def objects(run, namespace: str | None = None, kind: str | None = None) -> dict[str, dict]:
    """Kubernetes objects as they would be applied, by `Kind/name`."""
    found = {}
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        if namespace is not None and obj["metadata"].get("namespace") != namespace:
            continue
        if kind is not None and obj["kind"] != kind:
            continue
        found[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return found


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def secret_in_wire_form(data: dict, key: str) -> bool:
    """Whether `data[key]` reaches the engine marked secret (itself or the whole map)."""
    return is_secret(data) or is_secret(data[key])


def workloads(run, namespace: str) -> dict[str, dict]:
    return {name: obj for name, obj in objects(run, namespace).items()
            if obj["kind"] in WORKLOAD_KINDS}


def test_namespaces_and_their_pod_security(program_run):
    namespaces = objects(program_run("local-demo"), kind="Namespace")
    levels = {name.split("/")[1]: obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
              for name, obj in namespaces.items()}
    assert levels == {"monitoring": "privileged", "demo": "baseline", "background": "restricted"}


def test_priority_classes(program_run):
    classes = objects(program_run("local-demo"), kind="PriorityClass")
    foreground = classes[f"PriorityClass/{FOREGROUND_PRIORITY}"]
    background = classes[f"PriorityClass/{BACKGROUND_PRIORITY}"]
    assert foreground["value"] > 0 > background["value"]
    assert background["preemptionPolicy"] == "Never"
    assert not foreground["globalDefault"] and not background["globalDefault"]


def test_monitoring_objects(program_run):
    found = objects(program_run("local-demo"), "monitoring")
    assert {name for name in found if name.split("/")[0] in WORKLOAD_KINDS} == {
        "StatefulSet/prometheus", "Deployment/pushgateway", "DaemonSet/node-exporter",
        "Deployment/kube-state-metrics", "Deployment/blackbox-exporter", "Deployment/grafana"}
    assert {name for name in found if name.startswith("Service/")} == {
        "Service/prometheus", "Service/pushgateway", "Service/kube-state-metrics",
        "Service/blackbox-exporter", "Service/grafana"}


def test_every_monitoring_pod_is_foreground_and_labelled(program_run):
    for name, obj in workloads(program_run("local-demo"), "monitoring").items():
        spec = pod_spec(obj)
        assert spec["priorityClassName"] == FOREGROUND_PRIORITY, name
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "cncfdemo", name
        assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


@pytest.mark.parametrize("namespace", ["monitoring", "demo", "background"])
def test_every_container_is_pinned_limited_and_unprivileged(program_run, namespace):
    run = program_run("local-demo", boincAccountKey="0123456789abcdef")
    checked = 0
    for name, obj in workloads(run, namespace).items():
        if obj["metadata"].get("labels", {}).get("app.kubernetes.io/name") in ("mongodb",
                                                                                 "countly"):
            continue  # the MongoDB and Countly components are tested with them
        spec = pod_spec(obj)
        pod_context = spec.get("securityContext", {})
        assert pod_context.get("runAsNonRoot") is True, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is (
            obj["metadata"]["name"] in API_CLIENTS), name
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{container['name']}"
            image = container["image"]
            # BOINC's official image has moving tags only: allowed, but only with the warning
            moving_boinc = name == "Deployment/boinc" and any(
                w.startswith(f"BOINC runs {image}, a moving tag") for w in run.warnings)
            assert PINNED_IMAGE.match(image) or moving_boinc, where
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), where
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), where
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["runAsNonRoot"] is True, where
            if container.get("ports"):
                assert "readinessProbe" in container and "livenessProbe" in container, where
            checked += 1
    assert checked >= {"monitoring": 6, "demo": 2, "background": 1}[namespace]


def test_prometheus_storage_retention_and_config(program_run):
    run = program_run("local-demo")
    prometheus = objects(run, "monitoring")["StatefulSet/prometheus"]
    claim = prometheus["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "standard"
    container = pod_spec(prometheus)["containers"][0]
    assert "--storage.tsdb.retention.time=2d" in container["args"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in container["args"]
    assert pod_spec(prometheus)["serviceAccountName"] == "prometheus"

    sources = pod_spec(prometheus)["volumes"][0]["projected"]["sources"]
    rules = sources[1]["configMap"]
    assert rules["name"] == "prometheus-rules"
    assert {item["path"] for item in rules["items"]} == {f"rules/{n}" for n in rule_files()}
    rules_map = objects(run, "monitoring")["ConfigMap/prometheus-rules"]
    assert rules_map["data"] == rule_files()

    longer = program_run("local-demo", prometheusRetention="15d")
    args = pod_spec(objects(longer, "monitoring")["StatefulSet/prometheus"])["containers"][0]
    assert "--storage.tsdb.retention.time=15d" in args["args"]


def test_a_changed_configuration_rolls_prometheus(program_run):
    def checksum(run):
        prometheus = objects(run, "monitoring")["StatefulSet/prometheus"]
        return prometheus["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(program_run("local-demo")) != checksum(
        program_run("local-demo", clusterName="other"))


def test_prometheus_may_discover_but_not_read_secrets(program_run):
    roles = objects(program_run("local-demo"), kind="ClusterRole")
    prometheus = roles["ClusterRole/cncfdemo-monitoring-prometheus"]
    kube_state = roles["ClusterRole/cncfdemo-monitoring-kube-state-metrics"]
    for role in (prometheus, kube_state):
        granted = {r for rule in role["rules"] for r in rule.get("resources", [])}
        assert "secrets" not in granted and "configmaps" not in granted
        verbs = {v for rule in role["rules"] for v in rule["verbs"]}
        assert verbs <= {"get", "list", "watch"}
    assert {"nodes/proxy", "pods", "endpoints"} <= {
        r for rule in prometheus["rules"] for r in rule.get("resources", [])}
    bindings = objects(program_run("local-demo"), kind="ClusterRoleBinding")
    subject = bindings["ClusterRoleBinding/cncfdemo-monitoring-prometheus"]["subjects"][0]
    assert subject == {"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}


def test_kube_state_metrics_exports_the_labels_the_mongodb_alert_reads(program_run):
    ksm = objects(program_run("local-demo"), "monitoring")["Deployment/kube-state-metrics"]
    args = pod_spec(ksm)["containers"][0]["args"]
    allowlist = next(a for a in args if a.startswith("--metric-labels-allowlist="))
    assert "pods=[app.kubernetes.io/name,app.kubernetes.io/component" in allowlist
    assert "image: registry.k8s.io/kube-state-metrics/kube-state-metrics:" in yaml.safe_dump(ksm)


def test_node_exporter_reads_the_host_read_only_on_every_node(program_run):
    daemon = objects(program_run("local-demo"), "monitoring")["DaemonSet/node-exporter"]
    spec = pod_spec(daemon)
    assert spec["hostNetwork"] and spec["hostPID"]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert {v["hostPath"]["path"] for v in spec["volumes"]} == {"/proc", "/sys", "/"}
    assert all(m["readOnly"] for m in spec["containers"][0]["volumeMounts"])


def test_grafana_admin_password_is_a_secret_from_birth(program_run):
    run = program_run("local-demo")
    password = run.named("local-demo-monitoring-grafana-admin-password")
    secrets = [r for r in run.of_type("kubernetes:core/v1:Secret")
               if r.plain_inputs["metadata"]["name"] == "grafana-admin"]
    assert len(secrets) == 1 and password.type == "random:index/randomPassword:RandomPassword"
    assert secret_in_wire_form(secrets[0].inputs["stringData"], "password")
    value = secrets[0].plain_inputs["stringData"]["password"]
    assert value in run.secret_values
    grafana = objects(run, "monitoring")["Deployment/grafana"]
    assert value not in json.dumps(grafana)
    env = {e["name"]: e for e in pod_spec(grafana)["containers"][0]["env"]}
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"]["value"] == "/etc/grafana/secrets/password"
    volume = next(v for v in pod_spec(grafana)["volumes"] if v["name"] == "admin")
    assert volume["secret"]["secretName"] == "grafana-admin"


def test_grafana_provisions_prometheus_and_the_three_dashboards(program_run):
    found = objects(program_run("local-demo"), "monitoring")
    provisioning = found["ConfigMap/grafana-provisioning"]["data"]
    source = yaml.safe_load(provisioning["datasources.yaml"])["datasources"][0]
    assert source["url"] == "http://prometheus.monitoring.svc.cluster.local:9090"
    assert (source["type"], source["uid"], source["isDefault"]) == ("prometheus", "prometheus",
                                                                    True)
    provider = yaml.safe_load(provisioning["dashboards.yaml"])["providers"][0]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    dashboards = found["ConfigMap/grafana-dashboards"]["data"]
    assert dashboards == dashboard_files()
    titles = {json.loads(text)["title"] for text in dashboards.values()}
    assert titles == {"cncfdemo: cluster overview", "cncfdemo: Countly and MongoDB",
                      "cncfdemo: benchmark results"}


def test_local_urls_are_published_node_ports(program_run):
    run = program_run("local-demo")
    assert run.outputs["grafanaUrl"] == "http://localhost:30030"
    assert run.outputs["prometheusUrl"] == "http://localhost:30090"
    assert run.outputs["pushgatewayUrl"] == "http://localhost:30091"
    services = objects(run, "monitoring", "Service")
    assert services["Service/grafana"]["spec"]["ports"][0]["nodePort"] == 30030
    assert services["Service/kube-state-metrics"]["spec"]["type"] == "ClusterIP"


def test_cloud_exposes_grafana_only(program_run):
    run = program_run("aws-demo")
    services = objects(run, "monitoring", "Service")
    assert services["Service/grafana"]["spec"]["type"] == "LoadBalancer"
    for name in ("prometheus", "pushgateway", "kube-state-metrics", "blackbox-exporter"):
        assert services[f"Service/{name}"]["spec"]["type"] == "ClusterIP", name
    assert run.outputs["prometheusUrl"].startswith("kubectl -n monitoring port-forward")
    assert run.outputs["grafanaUrl"].startswith("http://")
    claim = objects(run, "monitoring")["StatefulSet/prometheus"]["spec"]["volumeClaimTemplates"]
    assert claim[0]["spec"]["storageClassName"] != "standard"


def test_monitoring_resources_are_children_of_the_component(program_run):
    run = program_run("local-demo")
    component = run.named("local-demo-monitoring")
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        if obj["metadata"].get("namespace") == "monitoring":
            assert resource.parent == component.urn, resource.urn


def test_exporters_answer_prometheus_only(program_run):
    policies = objects(program_run("local-demo"), "monitoring", "NetworkPolicy")
    assert set(policies) == {f"NetworkPolicy/{app}-ingress" for app in (
        "prometheus", "grafana", "pushgateway", "kube-state-metrics", "blackbox-exporter")}
    for app in ("kube-state-metrics", "blackbox-exporter"):
        (rule,) = policies[f"NetworkPolicy/{app}-ingress"]["spec"]["ingress"]
        assert rule["from"] == [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/part-of": "cncfdemo"}}}]
    (grafana,) = policies["NetworkPolicy/grafana-ingress"]["spec"]["ingress"]
    assert grafana == {"ports": [{"protocol": "TCP", "port": 3000}]}
