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


def network_policies(name: str, namespace: str, clients: tuple[str, ...],
                     opts: pulumi.ResourceOptions) -> list[k8s.networking.v1.NetworkPolicy]:
    """mongod pods take connections from each other (replication, migrations, the config
    servers), mongos and the init Jobs; mongos takes them from the init Jobs and the pods
    labelled as clients of a MongoDB user this component created; the Jobs take none."""
    labels = {pods.NAME_LABEL: "mongodb", pods.COMPONENT_LABEL: "network-policy",
              "app.kubernetes.io/part-of": "cncfdemo"}
    mongod = k8s.networking.v1.NetworkPolicy(
        f"{name}-mongod-ingress",
        metadata={"name": "mongod-ingress", "namespace": namespace, "labels": labels},
        spec={
            "podSelector": {"matchLabels": {pods.NAME_LABEL: "mongodb",
                                            pods.COMPONENT_LABEL: "mongod"}},
            "policyTypes": ["Ingress"],
            "ingress": _ingress([_from_mongodb("mongod", "mongos", "init")]),
        },
        opts=opts,
    )
    peers = [_from_mongodb("init")]
    if clients:
        peers.append({"podSelector": {"matchExpressions": [
            {"key": pods.CLIENT_LABEL, "operator": "In", "values": list(clients)}]}})
    mongos = k8s.networking.v1.NetworkPolicy(
        f"{name}-mongos-ingress",
        metadata={"name": "mongos-ingress", "namespace": namespace, "labels": labels},
        spec={
            "podSelector": {"matchLabels": {pods.NAME_LABEL: "mongodb",
                                            pods.COMPONENT_LABEL: "mongos"}},
            "policyTypes": ["Ingress"],
            "ingress": _ingress(peers),
        },
        opts=opts,
    )
    # The Jobs connect out and serve nothing: no connection in.
    init = k8s.networking.v1.NetworkPolicy(
        f"{name}-init-ingress",
        metadata={"name": "mongo-init-ingress", "namespace": namespace, "labels": labels},
        spec={
            "podSelector": {"matchLabels": {pods.NAME_LABEL: "mongodb",
                                            pods.COMPONENT_LABEL: "init"}},
            "policyTypes": ["Ingress"],
        },
        opts=opts,
    )
    return [mongod, mongos, init]
