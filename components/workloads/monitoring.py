"""Monitoring: Prometheus, the Pushgateway, node-exporter, kube-state-metrics, the blackbox
exporter and Grafana, in the monitoring namespace, all in the foreground priority class."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from components.workloads import monitoring_grafana, monitoring_prometheus
from components.workloads.monitoring_exporters import (
    PORTS,
    BlackboxExporter,
    KubeStateMetrics,
    NodeExporter,
    Pushgateway,
    address,
)
from components.workloads.monitoring_grafana import Grafana
from components.workloads.monitoring_prometheus import Prometheus, PrometheusArgs, ScrapeTargets
from components.workloads.platform import ingress_policy, selector
from stacks.cluster import Exposure

_RETENTION = r"^[1-9]\d*[hdwy]$"


@dataclass(frozen=True)
class MonitoringArgs:
    cluster: str
    """Cluster name, the `cluster` label on every series Prometheus stores."""
    namespace: str
    exposure: Exposure
    """Local: node ports for Prometheus, the Pushgateway and Grafana. Clouds: a load balancer
    for Grafana; Prometheus and the Pushgateway stay inside (port-forward)."""
    storage_class: str
    """StorageClass of Prometheus's volume (the cluster's `storage_class`)."""
    retention: str = "7d"
    """How long Prometheus keeps samples (`prometheusRetention`), e.g. 24h, 7d, 2w."""
    probes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """URLs the blackbox exporter GETs, by probe name; `countly-api` feeds the Countly alerts."""
    storage_size: str = "10Gi"

    def __post_init__(self) -> None:
        if not re.match(_RETENTION, self.retention):
            raise ValueError(f"retention {self.retention!r} is not like 24h, 7d or 2w")
        if not self.storage_class:
            raise ValueError("storage_class is required: Prometheus keeps its samples on a "
                             "persistent volume")


class Monitoring(pulumi.ComponentResource):
    prometheus_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str]
    pushgateway_url: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    prometheus_in_cluster_url: str
    pushgateway_in_cluster_url: str

    def __init__(self, name: str, args: MonitoringArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:workloads:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = args.namespace

        pushgateway = Pushgateway(name, namespace, args.exposure, child)
        NodeExporter(name, namespace, child)
        KubeStateMetrics(name, namespace, child)
        BlackboxExporter(name, namespace, child)

        prometheus = Prometheus(name, PrometheusArgs(
            cluster=args.cluster,
            namespace=namespace,
            exposure=args.exposure,
            storage_class=args.storage_class,
            retention=args.retention,
            storage_size=args.storage_size,
            probes=args.probes,
            targets=ScrapeTargets(
                pushgateway=address("pushgateway", namespace),
                kube_state_metrics=address("kube-state-metrics", namespace),
                blackbox_exporter=address("blackbox-exporter", namespace),
                namespace=namespace,
            ),
        ), child)

        grafana = Grafana(name, namespace, args.exposure, prometheus.in_cluster_url, child)

        # Who may connect to what. Prometheus, Grafana and the Pushgateway are reached by
        # people (node port, load balancer or port-forward) and by pods in other namespaces
        # (wrk pushes); the exporters answer Prometheus only. node-exporter uses the host's
        # network, where policies do not apply. Kubelet probes come from the node, always
        # admitted.
        from_prometheus = [{"podSelector": {"matchLabels": selector("prometheus")}}]
        for app, ports, sources in (
            ("prometheus", [monitoring_prometheus.PORT], None),
            ("grafana", [monitoring_grafana.PORT], None),
            ("pushgateway", [PORTS["pushgateway"]], None),
            ("kube-state-metrics", [PORTS["kube-state-metrics"]], from_prometheus),
            ("blackbox-exporter", [PORTS["blackbox-exporter"]], from_prometheus),
        ):
            ingress_policy(name, app, namespace, ports, sources, child)

        self.prometheus_url = prometheus.url
        self.grafana_url = grafana.url
        self.pushgateway_url = pushgateway.url
        self.grafana_admin_password = grafana.admin_password
        self.prometheus_in_cluster_url = prometheus.in_cluster_url
        self.pushgateway_in_cluster_url = pushgateway.in_cluster_url
        self.register_outputs({
            "prometheusUrl": self.prometheus_url,
            "grafanaUrl": self.grafana_url,
            "pushgatewayUrl": self.pushgateway_url,
        })
