"""Grafana: a generated admin password, the Prometheus data source and the demo's dashboards,
all provisioned from files, so nothing is clicked together by hand."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.workloads import exposure as exposing
from components.workloads.platform import (
    FOREGROUND_PRIORITY,
    container_security_context,
    http_probe,
    labels,
    pod_security_context,
    resources,
    selector,
)
from stacks.cluster import Exposure

IMAGE = "grafana/grafana:12.1.1"
PORT = 3000
# The image's grafana user.
USER = 472
DASHBOARDS_DIR = Path(__file__).parent / "files" / "grafana" / "dashboards"
DASHBOARDS_MOUNT = "/etc/grafana/dashboards"
ADMIN_USER = "admin"
SECRETS_MOUNT = "/etc/grafana/secrets"
DATASOURCE_UID = "prometheus"


def dashboard_files() -> dict[str, str]:
    """The dashboards kept in the repository, by file name."""
    return {path.name: path.read_text() for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def datasources(prometheus_url: str) -> dict:
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": "Prometheus",
            # the dashboards refer to the data source by this uid
            "uid": DATASOURCE_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": prometheus_url,
            "isDefault": True,
            "editable": False,
            "jsonData": {"timeInterval": "30s"},
        }],
    }


DASHBOARD_PROVIDERS = {
    "apiVersion": 1,
    "providers": [{
        "name": "cncfdemo",
        "folder": "cncfdemo",
        "type": "file",
        "disableDeletion": True,
        "allowUiUpdates": False,
        "options": {"path": DASHBOARDS_MOUNT},
    }],
}


class Grafana:
    """The Grafana objects, built under a parent component (not a component itself)."""

    def __init__(self, name: str, namespace: str, exposure: Exposure, prometheus_url: str,
                 opts: pulumi.ResourceOptions) -> None:
        app = "grafana"
        password = random.RandomPassword(
            f"{name}-grafana-admin-password",
            length=24,
            special=False,
            opts=opts,
        )
        self.admin_password = pulumi.Output.secret(password.result)
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": "grafana-admin", "namespace": namespace,
                      "labels": labels(app, "monitoring")},
            type="Opaque",
            string_data={"user": ADMIN_USER, "password": self.admin_password},
            opts=opts,
        )
        provisioning = k8s.core.v1.ConfigMap(
            f"{name}-grafana-provisioning",
            metadata={"name": "grafana-provisioning", "namespace": namespace,
                      "labels": labels(app, "monitoring")},
            data={
                "datasources.yaml": yaml.safe_dump(datasources(prometheus_url), sort_keys=False),
                "dashboards.yaml": yaml.safe_dump(DASHBOARD_PROVIDERS, sort_keys=False),
            },
            opts=opts,
        )
        dashboards = k8s.core.v1.ConfigMap(
            f"{name}-grafana-dashboards",
            metadata={"name": "grafana-dashboards", "namespace": namespace,
                      "labels": labels(app, "monitoring")},
            data=dashboard_files(),
            opts=opts,
        )

        container = {
            "name": app,
            "image": IMAGE,
            "env": [
                {"name": "GF_SECURITY_ADMIN_USER", "value": ADMIN_USER},
                # Grafana reads a setting from the file named by its __FILE variable
                {"name": "GF_SECURITY_ADMIN_PASSWORD__FILE",
                 "value": f"{SECRETS_MOUNT}/password"},
                {"name": "GF_PATHS_PROVISIONING", "value": "/etc/grafana/provisioning"},
                {"name": "GF_PATHS_DATA", "value": "/var/lib/grafana"},
                # logs go to the console; the root filesystem is read-only
                {"name": "GF_LOG_MODE", "value": "console"},
                {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "false"},
                {"name": "GF_ANALYTICS_REPORTING_ENABLED", "value": "false"},
                {"name": "GF_ANALYTICS_CHECK_FOR_UPDATES", "value": "false"},
                {"name": "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "value": "false"},
                {"name": "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
                 "value": f"{DASHBOARDS_MOUNT}/cluster-overview.json"},
            ],
            "ports": [{"name": "http", "containerPort": PORT}],
            "readinessProbe": http_probe("/api/health", "http"),
            "livenessProbe": http_probe("/api/health", "http", period=20, delay=30, failures=6),
            "resources": resources("100m", "192Mi", "500m", "384Mi"),
            "securityContext": container_security_context(),
            "volumeMounts": [
                {"name": "provisioning", "mountPath": "/etc/grafana/provisioning",
                 "readOnly": True},
                {"name": "dashboards", "mountPath": DASHBOARDS_MOUNT, "readOnly": True},
                {"name": "data", "mountPath": "/var/lib/grafana"},
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "admin", "mountPath": SECRETS_MOUNT, "readOnly": True},
            ],
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-grafana",
            metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector(app)},
                "template": {"metadata": {"labels": labels(app, "monitoring")}, "spec": {
                    "priorityClassName": FOREGROUND_PRIORITY,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(USER, fs_group=USER),
                    "containers": [container],
                    "volumes": [
                        {"name": "provisioning", "projected": {"sources": [
                            {"configMap": {"name": provisioning.metadata.name, "items": [
                                {"key": "datasources.yaml",
                                 "path": "datasources/datasources.yaml"},
                                {"key": "dashboards.yaml", "path": "dashboards/dashboards.yaml"},
                            ]}},
                        ]}},
                        {"name": "dashboards", "configMap": {"name": dashboards.metadata.name}},
                        # Everything Grafana keeps is provisioned: its database can be lost.
                        {"name": "data", "emptyDir": {"sizeLimit": "512Mi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        {"name": "admin", "secret": {"secretName": admin.metadata.name,
                                                     "defaultMode": 0o440}},
                    ],
                }},
            },
            opts=opts,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-grafana",
            metadata={"name": app, "namespace": namespace, "labels": labels(app, "monitoring")},
            spec=exposing.service_spec(exposure, "grafana", PORT, "http", selector(app), True),
            opts=opts,
        )
        self.url = exposing.service_url(exposure, "grafana", self.service, PORT, True)
