"""What Prometheus scrapes besides the kubelets: the Pushgateway, node-exporter,
kube-state-metrics and the blackbox exporter that probes Countly."""

from __future__ import annotations

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

IMAGES = {
    "pushgateway": "prom/pushgateway:v1.11.1",
    "node-exporter": "prom/node-exporter:v1.9.1",
    "kube-state-metrics": "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0",
    "blackbox-exporter": "prom/blackbox-exporter:v0.27.0",
}
PORTS = {"pushgateway": 9091, "node-exporter": 9100, "kube-state-metrics": 8080,
         "blackbox-exporter": 9115}
# The user the Prometheus project's images run as.
NOBODY = 65534

# What kube-state-metrics watches, and so what its ClusterRole may list: nothing more (no
# Secrets, no ConfigMaps).
KUBE_STATE_RESOURCES = {
    "": ["nodes", "pods", "services", "namespaces", "persistentvolumeclaims",
         "persistentvolumes"],
    "apps": ["deployments", "statefulsets", "daemonsets", "replicasets"],
    "batch": ["jobs", "cronjobs"],
    "autoscaling": ["horizontalpodautoscalers"],
    "policy": ["poddisruptionbudgets"],
}
# Pod and StatefulSet labels exported as kube_*_labels (the alert on MongoDB members needs them).
KUBE_STATE_LABELS = "app.kubernetes.io/name,app.kubernetes.io/component,app.kubernetes.io/instance"


def address(app: str, namespace: str) -> str:
    """host:port of an exporter's Service inside the cluster."""
    return f"{app}.{namespace}.svc.cluster.local:{PORTS[app]}"


def _service(name: str, app: str, namespace: str, spec: dict,
             opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
    return k8s.core.v1.Service(
        f"{name}-{app}",
        metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
        spec=spec,
        opts=opts,
    )


def _deployment(name: str, app: str, namespace: str, pod_spec: dict,
                opts: pulumi.ResourceOptions, annotations: dict | None = None
                ) -> k8s.apps.v1.Deployment:
    template_metadata: dict = {"labels": labels(app, "monitoring")}
    if annotations:
        template_metadata["annotations"] = annotations
    return k8s.apps.v1.Deployment(
        f"{name}-{app}",
        metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
        spec={
            "replicas": 1,
            "selector": {"matchLabels": selector(app)},
            "template": {"metadata": template_metadata, "spec": {
                "priorityClassName": FOREGROUND_PRIORITY,
                "securityContext": pod_security_context(NOBODY, fs_group=NOBODY),
                **pod_spec,
            }},
        },
        opts=opts,
    )


class Pushgateway:
    """Where the benchmark pushes its results; Prometheus scrapes it with labels honoured."""

    def __init__(self, name: str, namespace: str, exposure: Exposure,
                 opts: pulumi.ResourceOptions) -> None:
        app, port = "pushgateway", PORTS["pushgateway"]
        container = {
            "name": app,
            "image": IMAGES[app],
            # Results survive a container restart; a rescheduled pod starts empty (the
            # benchmark results already scraped stay in Prometheus).
            "args": ["--persistence.file=/data/pushgateway.db", "--persistence.interval=1m"],
            "ports": [{"name": "http", "containerPort": port}],
            "readinessProbe": http_probe("/-/ready", "http"),
            "livenessProbe": http_probe("/-/healthy", "http", period=20),
            "resources": resources("50m", "64Mi", "200m", "128Mi"),
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }
        self.deployment = _deployment(name, app, namespace, {
            "automountServiceAccountToken": False,
            "containers": [container],
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "256Mi"}}],
        }, opts)
        public = exposure.service_type == "NodePort"
        self.service = _service(name, app, namespace, exposing.service_spec(
            exposure, "pushgateway", port, "http", selector(app), public), opts)
        self.url = exposing.service_url(exposure, "pushgateway", self.service, port, public)
        self.in_cluster_url = f"http://{address(app, namespace)}"


class NodeExporter:
    """One node-exporter per node, reading the host's /proc, /sys and root filesystem."""

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions) -> None:
        app, port = "node-exporter", PORTS["node-exporter"]
        host_paths = {"proc": "/proc", "sys": "/sys", "root": "/"}
        container = {
            "name": app,
            "image": IMAGES[app],
            "args": [
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/host/root",
                f"--web.listen-address=:{port}",
                # container and pod mounts are counted by cAdvisor already
                "--collector.filesystem.mount-points-exclude="
                "^/(dev|proc|sys|run/containerd/.+|var/lib/kubelet/.+)($|/)",
            ],
            "ports": [{"name": "metrics", "containerPort": port}],
            "readinessProbe": http_probe("/", "metrics"),
            "livenessProbe": http_probe("/", "metrics", period=20),
            "resources": resources("50m", "64Mi", "250m", "128Mi"),
            "securityContext": container_security_context(),
            "volumeMounts": [
                {"name": volume, "mountPath": f"/host/{volume}", "readOnly": True,
                 **({"mountPropagation": "HostToContainer"} if volume == "root" else {})}
                for volume in host_paths
            ],
        }
        self.daemon_set = k8s.apps.v1.DaemonSet(
            f"{name}-{app}",
            metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
            spec={
                "selector": {"matchLabels": selector(app)},
                "updateStrategy": {"type": "RollingUpdate",
                                   "rollingUpdate": {"maxUnavailable": 1}},
                "template": {"metadata": {"labels": labels(app, "monitoring")}, "spec": {
                    "priorityClassName": FOREGROUND_PRIORITY,
                    "automountServiceAccountToken": False,
                    # the node's own network and processes are what it reports on
                    "hostNetwork": True,
                    "hostPID": True,
                    "securityContext": pod_security_context(NOBODY),
                    # every node, the control plane included
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": [{"name": volume, "hostPath": {"path": path}}
                                for volume, path in host_paths.items()],
                }},
            },
            opts=opts,
        )


class KubeStateMetrics:
    """The state of Kubernetes objects (readiness, replicas, jobs) as metrics."""

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions) -> None:
        app, port = "kube-state-metrics", PORTS["kube-state-metrics"]
        account, binding = cluster_role_account(
            name, app, namespace, "monitoring",
            [{"apiGroups": [group], "resources": kinds, "verbs": ["list", "watch"]}
             for group, kinds in KUBE_STATE_RESOURCES.items()],
            automount_token=False, opts=opts)
        collectors = sorted(kind for kinds in KUBE_STATE_RESOURCES.values() for kind in kinds)
        container = {
            "name": app,
            "image": IMAGES[app],
            "args": [
                f"--port={port}",
                "--telemetry-port=8081",
                f"--resources={','.join(collectors)}",
                f"--metric-labels-allowlist=pods=[{KUBE_STATE_LABELS}],"
                f"statefulsets=[{KUBE_STATE_LABELS}]",
            ],
            "ports": [{"name": "http-metrics", "containerPort": port},
                      {"name": "telemetry", "containerPort": 8081}],
            "livenessProbe": http_probe("/livez", "http-metrics", period=20),
            "readinessProbe": http_probe("/readyz", "telemetry"),
            "resources": resources("50m", "128Mi", "250m", "256Mi"),
            "securityContext": container_security_context(),
        }
        self.deployment = _deployment(name, app, namespace, {
            "serviceAccountName": account.metadata.name,
            # it lists objects through the API, with its own token
            "automountServiceAccountToken": True,
            "containers": [container],
        }, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[binding])))
        self.service = _service(name, app, namespace, {
            "type": "ClusterIP", "selector": selector(app),
            "ports": [{"name": "http-metrics", "port": port, "targetPort": "http-metrics"}],
        }, opts)


BLACKBOX_CONFIG = {
    "modules": {
        "http_2xx": {
            "prober": "http",
            "timeout": "5s",
            "http": {"method": "GET", "preferred_ip_protocol": "ip4",
                     "valid_status_codes": []},  # empty: any 2xx
        },
    },
}


class BlackboxExporter:
    """Probes HTTP endpoints for Prometheus: Countly exports no metrics of its own."""

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions) -> None:
        app, port = "blackbox-exporter", PORTS["blackbox-exporter"]
        config = k8s.core.v1.ConfigMap(
            f"{name}-{app}",
            metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
            data={"blackbox.yml": yaml.safe_dump(BLACKBOX_CONFIG, sort_keys=False)},
            opts=opts,
        )
        container = {
            "name": app,
            "image": IMAGES[app],
            "args": ["--config.file=/etc/blackbox/blackbox.yml",
                     f"--web.listen-address=:{port}"],
            "ports": [{"name": "http", "containerPort": port}],
            "readinessProbe": http_probe("/-/healthy", "http"),
            "livenessProbe": http_probe("/-/healthy", "http", period=20),
            "resources": resources("25m", "32Mi", "100m", "64Mi"),
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "config", "mountPath": "/etc/blackbox", "readOnly": True}],
        }
        self.deployment = _deployment(name, app, namespace, {
            "automountServiceAccountToken": False,
            "containers": [container],
            "volumes": [{"name": "config", "configMap": {"name": config.metadata.name}}],
        }, opts)
        self.service = _service(name, app, namespace, {
            "type": "ClusterIP", "selector": selector(app),
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        }, opts)
