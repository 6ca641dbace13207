"""The azure stack: not built yet. It keeps the contract's entry point and says so clearly."""

from __future__ import annotations

from stacks.cluster import Cluster, not_built
from stacks.settings import Settings


def create_cluster(settings: Settings) -> Cluster:
    raise not_built("azure")
