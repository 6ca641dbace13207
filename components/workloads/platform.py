"""Namespaces per concern and the two priority classes every workload is placed in."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

# Foreground services outrank background work; BOINC never preempts anything.
FOREGROUND_PRIORITY = "cncfdemo-foreground"
BACKGROUND_PRIORITY = "cncfdemo-background"


@dataclass(frozen=True)
class Namespaces:
    monitoring: str = "monitoring"
    demo: str = "demo"
    background: str = "background"


class Platform(pulumi.ComponentResource):
    """What every other workload component builds on."""

    namespaces: Namespaces

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:workloads:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespaces = Namespaces()

        self.namespace_resources = [
            k8s.core.v1.Namespace(
                f"{name}-ns-{namespace}",
                metadata={"name": namespace, "labels": {
                    "app.kubernetes.io/part-of": "cncfdemo",
                    # the database and analytics pods need no privileges
                    "pod-security.kubernetes.io/enforce": "baseline",
                }},
                opts=child,
            )
            for namespace in (self.namespaces.monitoring, self.namespaces.demo,
                              self.namespaces.background)
        ]

        self.foreground = k8s.scheduling.v1.PriorityClass(
            f"{name}-foreground",
            metadata={"name": FOREGROUND_PRIORITY},
            value=100_000,
            global_default=False,
            preemption_policy="PreemptLowerPriority",
            description="cncfdemo foreground services: monitoring, MongoDB, Countly, wrk.",
            opts=child,
        )
        self.background = k8s.scheduling.v1.PriorityClass(
            f"{name}-background",
            metadata={"name": BACKGROUND_PRIORITY},
            value=-10,
            global_default=False,
            preemption_policy="Never",
            description="cncfdemo background work (BOINC): runs on idle capacity only.",
            opts=child,
        )
        self.register_outputs({})

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What a workload must depend on: its namespace and priority class exist."""
        return [*self.namespace_resources, self.foreground, self.background]
