"""Namespaces per concern, the two priority classes, and what every workload pod is given.

Every workload component builds on this: its namespace and priority class exist before its pods,
and its pods and containers take their labels, security contexts and resources from the helpers
below, so the hardening is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

# Foreground services outrank background work; BOINC never preempts anything.
FOREGROUND_PRIORITY = "cncfdemo-foreground"
BACKGROUND_PRIORITY = "cncfdemo-background"

PART_OF = "cncfdemo"


@dataclass(frozen=True)
class Namespaces:
    monitoring: str = "monitoring"
    demo: str = "demo"
    background: str = "background"

    def pod_security(self) -> dict[str, str]:
        """The Pod Security Standard each namespace enforces."""
        return {
            # node-exporter reads the host's /proc, /sys and root filesystem (hostPath, host
            # network and PID namespace), which only the privileged level admits.
            self.monitoring: "privileged",
            # the database and analytics pods need no privileges
            self.demo: "baseline",
            # BOINC runs unprivileged as an arbitrary user
            self.background: "restricted",
        }


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
                    "app.kubernetes.io/part-of": PART_OF,
                    "pod-security.kubernetes.io/enforce": level,
                }},
                opts=child,
            )
            for namespace, level in self.namespaces.pod_security().items()
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


# what every pod and container is given ------------------------------------------------------

def labels(name: str, component: str) -> dict[str, str]:
    """The recommended labels; `name` is the application, `component` its role in the demo."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(name: str) -> dict[str, str]:
    """The subset of `labels` a Service or controller selects pods by; never changes."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PART_OF}


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str | None = None) -> dict:
    """Requests and limits; memory is limited to its request unless told otherwise."""
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit or memory},
    }


def pod_security_context(user: int, fs_group: int | None = None) -> dict:
    """A pod that runs as `user`, never as root; `fs_group` owns its writable volumes."""
    context = {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group is not None:
        context["fsGroup"] = fs_group
    return context


def container_security_context(read_only_root: bool = True) -> dict:
    """No privileges, no capabilities, and (unless the image must write) a read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: int | str, period: int = 10, delay: int = 0,
               failures: int = 3) -> dict:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def ingress_policy(name: str, app: str, namespace: str, ports: list[int],
                   sources: list[dict] | None, opts: pulumi.ResourceOptions
                   ) -> k8s.networking.v1.NetworkPolicy:
    """Admit connections to `app`'s pods only on `ports`, and only from `sources` (NetworkPolicy
    peers); `sources=None` admits any source, `ports=[]` admits nothing."""
    rules = []
    if ports:
        rule: dict = {"ports": [{"protocol": "TCP", "port": port} for port in ports]}
        if sources is not None:
            rule["from"] = sources
        rules.append(rule)
    return k8s.networking.v1.NetworkPolicy(
        f"{name}-{app}-ingress",
        metadata={"name": f"{app}-ingress", "namespace": namespace,
                  "labels": labels(app, "network-policy")},
        spec={"podSelector": {"matchLabels": selector(app)}, "policyTypes": ["Ingress"],
              "ingress": rules},
        opts=opts,
    )


def cluster_role_account(name: str, app: str, namespace: str, component: str, rules: list[dict],
                         *, automount_token: bool, opts: pulumi.ResourceOptions
                         ) -> tuple[k8s.core.v1.ServiceAccount, k8s.rbac.v1.ClusterRoleBinding]:
    """A ServiceAccount `app` bound to a ClusterRole granting `rules` across the cluster.

    The role is cluster-wide, so its name carries the namespace: two demos on one cluster keep
    their own. Pods that call the API should depend on the returned binding.
    """
    role_name = f"cncfdemo-{namespace}-{app}"
    account = k8s.core.v1.ServiceAccount(
        f"{name}-{app}",
        metadata={"name": app, "namespace": namespace, "labels": labels(app, component)},
        automount_service_account_token=automount_token,
        opts=opts,
    )
    role = k8s.rbac.v1.ClusterRole(
        f"{name}-{app}",
        metadata={"name": role_name, "labels": labels(app, component)},
        rules=rules,
        opts=opts,
    )
    binding = k8s.rbac.v1.ClusterRoleBinding(
        f"{name}-{app}",
        metadata={"name": role_name, "labels": labels(app, component)},
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                  "name": role.metadata.name},
        subjects=[{"kind": "ServiceAccount", "name": account.metadata.name,
                   "namespace": namespace}],
        opts=opts,
    )
    return account, binding
