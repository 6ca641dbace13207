"""The one place where AWS names and tags are made, so every resource of a cluster carries the
same set."""

from __future__ import annotations

import hashlib


def limited_name(cluster: str, suffix: str, limit: int) -> str:
    """`<cluster>-<suffix>`, shortened with a stable hash where AWS allows only `limit` chars."""
    name = f"{cluster}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:6]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{cluster[:keep].rstrip('-')}-{digest}-{suffix}"


def cluster_tags(cluster: str, name: str) -> dict[str, str]:
    """Tags of every resource: its Name, and the tags the cloud controller manager looks for."""
    return {
        "Name": name,
        "KubernetesCluster": cluster,
        f"kubernetes.io/cluster/{cluster}": "owned",
    }


def node_tags(cluster: str, role: str, name: str) -> dict[str, str]:
    """Tags of a node group; the DNS function finds a group's instances by cluster and role."""
    return {**cluster_tags(cluster, name), "Role": role}


def group_tags(tags: dict[str, str]) -> list[dict]:
    """Auto scaling group tags, each copied onto the instances the group launches."""
    return [{"key": key, "value": value, "propagate_at_launch": True}
            for key, value in sorted(tags.items())]
