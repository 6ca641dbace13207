"""Who may open a connection to the database: members, the router, the init Jobs, the clients."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.workloads.mongodb import pods


def _from_mongodb(*components: str) -> dict:
    return {"podSelector": {
        "matchLabels": {pods.NAME_LABEL: "mongodb"},
        "matchExpressions": [{"key": pods.COMPONENT_LABEL, "operator": "In",
                              "values": list(components)}],
    }}


def _ingress(peers: list[dict]) -> list[dict]:
    return [{"from": peers, "ports": [{"protocol": "TCP", "port": pods.PORT}]}]


def _policy(name: str, component: str, policy_name: str, namespace: str,
            peers: list[dict] | None, opts: pulumi.ResourceOptions
            ) -> k8s.networking.v1.NetworkPolicy:
    """Ingress to the `component` pods: from `peers` on the MongoDB port, or (None) nothing."""
    spec: dict = {
        "podSelector": {"matchLabels": {pods.NAME_LABEL: "mongodb",
                                        pods.COMPONENT_LABEL: component}},
        "policyTypes": ["Ingress"],
    }
    if peers is not None:
        spec["ingress"] = _ingress(peers)
    return k8s.networking.v1.NetworkPolicy(
        f"{name}-{component}-ingress",
        metadata={"name": policy_name, "namespace": namespace,
                  "labels": {pods.NAME_LABEL: "mongodb", pods.COMPONENT_LABEL: "network-policy",
                             "app.kubernetes.io/part-of": "cncfdemo"}},
        spec=spec,
        opts=opts,
    )


def network_policies(name: str, namespace: str, clients: tuple[str, ...],
                     opts: pulumi.ResourceOptions) -> list[k8s.networking.v1.NetworkPolicy]:
    """mongod pods take connections from each other (replication, migrations, the config
    servers), mongos and the init Jobs; mongos takes them from the init Jobs and the pods
    labelled as clients of a MongoDB user this component created; the Jobs take none."""
    mongod = _policy(name, "mongod", "mongod-ingress", namespace,
                     [_from_mongodb("mongod", "mongos", "init")], opts)
    peers = [_from_mongodb("init")]
    if clients:
        peers.append({"podSelector": {"matchExpressions": [
            {"key": pods.CLIENT_LABEL, "operator": "In", "values": list(clients)}]}})
    mongos = _policy(name, "mongos", "mongos-ingress", namespace, peers, opts)
    # The Jobs connect out and serve nothing: no connection in.
    init = _policy(name, "init", "mongo-init-ingress", namespace, None, opts)
    return [mongod, mongos, init]
