"""The provider-neutral workloads, deployed through the cluster's Kubernetes provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.workloads.platform import Platform
from stacks.cluster import Cluster
from stacks.settings import Settings


@dataclass(frozen=True)
class Workloads:
    countly_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]
    pushgateway_url: pulumi.Output[str]
    benchmark: pulumi.Output[dict]


def deploy_workloads(settings: Settings, cluster: Cluster) -> Workloads:
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=list(cluster.ready))
    Platform(f"{cluster.name}-platform", opts=opts)
    # The services behind these names arrive with the workload components (issue 3).
    pending = pulumi.Output.from_input("not deployed yet")
    return Workloads(pending, pending, pending, pending, pulumi.Output.from_input({}))
