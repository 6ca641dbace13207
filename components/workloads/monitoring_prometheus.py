"""Prometheus: its configuration (scrape jobs, rule files) and the objects that run it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.workloads import exposure as exposing
from components.workloads.platform import (
    FOREGROUND_PRIORITY,
    cluster_role_account,
    container_security_context,
    http_probe,
    labels,
    pod_security_context,
    resources,
    selector,
)
from stacks.cluster import Exposure

IMAGE = "prom/prometheus:v3.5.0"
PORT = 9090
CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"
RULES_DIR = Path(__file__).parent / "files" / "prometheus" / "rules"
# The image's user (nobody); fsGroup lets it write the volume.
USER = 65534

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class ScrapeTargets:
    """In-cluster addresses (host:port) of what Prometheus scrapes besides discovered pods."""

    pushgateway: str
    kube_state_metrics: str
    blackbox_exporter: str
    namespace: str
    """Namespace of the monitoring pods, where node-exporter is discovered."""


def rule_files() -> dict[str, str]:
    """The alerting and recording rules kept in the repository, by file name."""
    return {path.name: path.read_text() for path in sorted(RULES_DIR.glob("*.yml"))}


def _kubelet_via_api(job: str, path: str) -> dict:
    """Scrape every node's kubelet through the API server proxy (no kubelet port to open)."""
    return {
        "job_name": job,
        "scheme": "https",
        "kubernetes_sd_configs": [{"role": "node"}],
        "tls_config": {"ca_file": f"{SERVICE_ACCOUNT_DIR}/ca.crt"},
        "authorization": {"credentials_file": f"{SERVICE_ACCOUNT_DIR}/token"},
        "relabel_configs": [
            {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
            {"source_labels": ["__meta_kubernetes_node_name"], "regex": "(.+)",
             "target_label": "__metrics_path__", "replacement": f"/api/v1/nodes/$1/proxy{path}"},
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
        ],
    }


def _annotated_pods() -> dict:
    """Any pod that asks for it with `prometheus.io/scrape: "true"` (port and path optional)."""
    annotation = "__meta_kubernetes_pod_annotation_prometheus_io_"
    return {
        "job_name": "kubernetes-pods",
        "kubernetes_sd_configs": [{"role": "pod"}],
        "relabel_configs": [
            {"source_labels": [f"{annotation}scrape"], "regex": "true", "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed",
             "action": "drop"},
            {"source_labels": [f"{annotation}scheme"], "regex": "(https?)",
             "target_label": "__scheme__"},
            {"source_labels": [f"{annotation}path"], "regex": "(.+)",
             "target_label": "__metrics_path__"},
            {"source_labels": ["__address__", f"{annotation}port"],
             "regex": r"([^:]+)(?::\d+)?;(\d+)", "replacement": "$1:$2",
             "target_label": "__address__"},
            *_pod_labels(),
        ],
    }


def _pod_labels() -> list[dict]:
    return [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
        {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
         "target_label": "app"},
    ]


def _node_exporter(namespace: str) -> dict:
    return {
        "job_name": "node-exporter",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
             "regex": "node-exporter", "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "metrics",
             "action": "keep"},
            # one node-exporter per node: name the instance after the node, not the pod IP
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "instance"},
            *_pod_labels(),
        ],
    }


def _blackbox(blackbox_exporter: str, probes: Mapping[str, str]) -> dict:
    return {
        "job_name": "blackbox-http",
        "metrics_path": "/probe",
        "params": {"module": ["http_2xx"]},
        "static_configs": [{"targets": [url], "labels": {"probe": name}}
                           for name, url in sorted(probes.items())],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": blackbox_exporter},
        ],
    }


def prometheus_config(cluster: str, targets: ScrapeTargets, probes: Mapping[str, str]) -> dict:
    """The whole prometheus.yml; `probes` maps a probe name to the URL the blackbox GETs."""
    jobs = [
        {"job_name": "prometheus", "static_configs": [{"targets": [f"localhost:{PORT}"]}]},
        _kubelet_via_api("kubernetes-nodes", "/metrics"),
        _kubelet_via_api("kubernetes-cadvisor", "/metrics/cadvisor"),
        _annotated_pods(),
        _node_exporter(targets.namespace),
        {"job_name": "kube-state-metrics",
         "static_configs": [{"targets": [targets.kube_state_metrics]}]},
        # pushed metrics carry their own job and grouping labels: keep them
        {"job_name": "pushgateway", "honor_labels": True,
         "static_configs": [{"targets": [targets.pushgateway]}]},
    ]
    if probes:
        jobs.append(_blackbox(targets.blackbox_exporter, probes))
    return {
        "global": {"scrape_interval": "30s", "evaluation_interval": "30s",
                   "external_labels": {"cluster": cluster}},
        # relative to this file, so the rules sit beside it in the pod and in a test folder
        "rule_files": ["rules/*.yml"],
        "scrape_configs": jobs,
    }


@dataclass(frozen=True)
class PrometheusArgs:
    cluster: str
    namespace: str
    exposure: Exposure
    storage_class: str
    retention: str
    targets: ScrapeTargets
    probes: Mapping[str, pulumi.Input[str]]
    storage_size: str = "10Gi"


class Prometheus:
    """The Prometheus objects, built under a parent component (not a component itself)."""

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions) -> None:
        namespace = args.namespace
        app = "prometheus"

        account, binding = cluster_role_account(
            name, app, namespace, "monitoring",
            [
                {"apiGroups": [""], "resources": ["nodes", "nodes/proxy", "nodes/metrics",
                                                  "services", "endpoints", "pods"],
                 "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                 "verbs": ["get", "list", "watch"]},
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
            ],
            # Kubernetes service discovery and the kubelet proxy authenticate with this token
            automount_token=True, opts=opts)

        probes = pulumi.Output.all(**dict(args.probes)) if args.probes else \
            pulumi.Output.from_input({})
        self.config_text = probes.apply(lambda resolved: yaml.safe_dump(
            prometheus_config(args.cluster, args.targets, resolved), sort_keys=False))
        config = k8s.core.v1.ConfigMap(
            f"{name}-prometheus-config",
            metadata={"name": "prometheus-config", "namespace": namespace,
                      "labels": labels(app, "monitoring")},
            data={"prometheus.yml": self.config_text},
            opts=opts,
        )
        rules = rule_files()
        rules_map = k8s.core.v1.ConfigMap(
            f"{name}-prometheus-rules",
            metadata={"name": "prometheus-rules", "namespace": namespace,
                      "labels": labels(app, "monitoring")},
            data=rules,
            opts=opts,
        )
        # A changed configuration or rule rolls the pod: there is no reloader sidecar.
        checksum = self.config_text.apply(lambda text: hashlib.sha256(
            (text + "".join(rules.values())).encode()).hexdigest())

        public = args.exposure.service_type == "NodePort"
        self.service = k8s.core.v1.Service(
            f"{name}-prometheus",
            metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
            spec=exposing.service_spec(args.exposure, "prometheus", PORT, "http",
                                       selector(app), public),
            opts=opts,
        )

        volume_claim = {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": args.storage_class,
                     "resources": {"requests": {"storage": args.storage_size}}},
        }
        container = {
            "name": app,
            "image": IMAGE,
            "args": [
                f"--config.file={CONFIG_DIR}/prometheus.yml",
                f"--storage.tsdb.path={DATA_DIR}",
                f"--storage.tsdb.retention.time={args.retention}",
                f"--web.listen-address=:{PORT}",
            ],
            "ports": [{"name": "http", "containerPort": PORT}],
            "readinessProbe": http_probe("/-/ready", "http", period=10),
            "livenessProbe": http_probe("/-/healthy", "http", period=20, delay=30, failures=6),
            "resources": resources("200m", "768Mi", "1", "1536Mi"),
            "securityContext": container_security_context(),
            "volumeMounts": [
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "data", "mountPath": DATA_DIR},
            ],
        }
        self.stateful_set = k8s.apps.v1.StatefulSet(
            f"{name}-prometheus",
            metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
            spec={
                "replicas": 1,
                "serviceName": self.service.metadata.name,
                "selector": {"matchLabels": selector(app)},
                "template": {
                    "metadata": {"labels": labels(app, "monitoring"),
                                 "annotations": {"checksum/config": checksum}},
                    "spec": {
                        "serviceAccountName": account.metadata.name,
                        "automountServiceAccountToken": True,
                        "priorityClassName": FOREGROUND_PRIORITY,
                        "securityContext": pod_security_context(USER, fs_group=USER),
                        "terminationGracePeriodSeconds": 60,
                        "containers": [container],
                        "volumes": [{"name": "config", "projected": {"sources": [
                            {"configMap": {"name": config.metadata.name}},
                            {"configMap": {"name": rules_map.metadata.name, "items": [
                                {"key": key, "path": f"rules/{key}"} for key in rules]}},
                        ]}}],
                    },
                },
                "volumeClaimTemplates": [volume_claim],
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                depends_on=[binding])),
        )

        self.url = exposing.service_url(args.exposure, "prometheus", self.service, PORT, public)
        self.in_cluster_url = f"http://{app}.{namespace}.svc.cluster.local:{PORT}"
