"""The shape every provider module returns, so the workloads never ask which cloud they are on."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import pulumi
import pulumi_kubernetes as k8s

from stacks.settings import Settings


@dataclass(frozen=True)
class NodeGroupSummary:
    """What cost estimation and the outputs need to know about one group of nodes."""

    role: Literal["masters", "minions"]
    count: int
    machine_type: str
    region: str
    disk_gb: int = 0

    def as_output(self) -> dict:
        return {
            "role": self.role,
            "count": self.count,
            "machineType": self.machine_type,
            "region": self.region,
            "diskGb": self.disk_gb,
        }


# Node ports the workloads use when a cluster has no load balancers; a local cluster publishes
# them on the host, so `http://localhost:30080` reaches Countly.
PUBLISHED_NODE_PORTS = {"countly": 30080, "grafana": 30030, "prometheus": 30090,
                        "pushgateway": 30091}


@dataclass(frozen=True)
class Exposure:
    """How services reach users: a cloud load balancer, or node ports on a known host."""

    service_type: Literal["LoadBalancer", "NodePort"]
    node_host: str | None = None


@dataclass(frozen=True)
class Cluster:
    name: str
    provider_name: str
    region: str
    kubernetes_version: str
    api_endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    k8s_provider: k8s.Provider
    node_groups: tuple[NodeGroupSummary, ...]
    exposure: Exposure
    storage_class: str
    # Everything the workloads must wait for besides the provider itself (CNI, CSI, ...).
    ready: tuple[pulumi.Resource, ...] = ()
    # Where the stack has a public DNS zone: publish_name("countly", <load balancer host>) gives
    # that host a readable name (countly.<cluster>.<zone>) and returns it. None elsewhere.
    publish_name: Callable[[str, pulumi.Input[str]], pulumi.Output[str]] | None = None


class ProviderModule(Protocol):
    def create_cluster(self, settings: Settings) -> Cluster: ...


def provider_module(name: str) -> ProviderModule:
    """Import only the chosen provider's module, so a stack never loads another cloud's SDK."""
    return importlib.import_module(f"stacks.{name}")  # type: ignore[return-value]


def not_built(provider: str) -> pulumi.RunError:
    if provider == "equinix":
        why = ("Equinix Metal stopped operating on 30 June 2026, so the equinix stack is kept "
               "for its settings and cost estimate only")
    else:
        why = f"the {provider} stack is not built yet"
    return pulumi.RunError(
        f"cncfdemo:provider is {provider!r}, but {why}: only 'aws' and 'local' create "
        "clusters today. Deploy one of their stacks instead (`pulumi up --stack aws-demo` or "
        "`--stack local-demo`); `cncfdemo cost --stack "
        f"{provider}-demo` still estimates this one."
    )
