"""The local stack: a kind cluster this stack creates and deletes, or an existing context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.local.kind_cluster import KindCluster, KindClusterArgs
from stacks.cluster import PUBLISHED_NODE_PORTS, Cluster, Exposure, NodeGroupSummary
from stacks.settings import Reader, Settings

REGION = "local"

# kind's default StorageClass (rancher's local-path provisioner).
STORAGE_CLASS = "standard"


def _existing_context(settings: Settings, context: str, path: str) -> Cluster:
    kubeconfig_path = Path(path).expanduser()
    if not kubeconfig_path.exists():
        raise pulumi.RunError(
            f"cncfdemo:localKubeconfigPath: {kubeconfig_path} does not exist, so context "
            f"{context!r} cannot be used. Set it with `pulumi config set "
            "cncfdemo:localKubeconfigPath <file>`, or unset cncfdemo:localKubeconfigContext "
            "to let the stack create a kind cluster."
        )
    try:
        text = kubeconfig_path.read_text()
        # Only the chosen context goes into state, not every other cluster's credentials.
        only_context = _only_context(text, context)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise pulumi.RunError(
            f"cncfdemo:localKubeconfigPath: {kubeconfig_path} cannot be read as a kubeconfig "
            f"({reason}). Set it with `pulumi config set cncfdemo:localKubeconfigPath <file>`."
        ) from None
    kubeconfig = pulumi.Output.secret(only_context)
    provider = k8s.Provider(f"{settings.cluster_name}-k8s", kubeconfig=kubeconfig, context=context)
    api_endpoint = pulumi.Output.unsecret(kubeconfig.apply(lambda text: _server_of(text, context)))
    pulumi.log.info(f"deploying into the existing kubeconfig context {context!r}")
    return _local_cluster(settings, api_endpoint, kubeconfig, provider, node_groups=())


def _local_cluster(settings: Settings, api_endpoint: pulumi.Output[str],
                   kubeconfig: pulumi.Output[str], provider: k8s.Provider,
                   node_groups: tuple[NodeGroupSummary, ...]) -> Cluster:
    """What both local paths share: node ports on localhost and kind's storage class."""
    return Cluster(
        name=settings.cluster_name,
        provider_name="local",
        region=REGION,
        kubernetes_version=settings.kubernetes_version,
        api_endpoint=api_endpoint,
        kubeconfig=kubeconfig,
        k8s_provider=provider,
        node_groups=node_groups,
        exposure=Exposure(service_type="NodePort", node_host="localhost"),
        storage_class=STORAGE_CLASS,
    )


def _only_context(kubeconfig: str, context: str) -> str:
    """The kubeconfig cut down to `context`, its cluster and its user."""
    config = yaml.safe_load(kubeconfig) or {}
    chosen = next((c for c in config.get("contexts") or [] if c.get("name") == context), None)
    if chosen is None:
        known = ", ".join(c.get("name", "?") for c in config.get("contexts") or []) or "none"
        raise pulumi.RunError(
            f"cncfdemo:localKubeconfigContext: the kubeconfig has no context {context!r} "
            f"(contexts: {known}). Set it with `pulumi config set "
            "cncfdemo:localKubeconfigContext <context>`."
        )
    cluster = chosen.get("context", {}).get("cluster")
    user = chosen.get("context", {}).get("user")
    return yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "contexts": [chosen],
        "clusters": [c for c in config.get("clusters") or [] if c.get("name") == cluster],
        "users": [u for u in config.get("users") or [] if u.get("name") == user],
    }, sort_keys=False)


def _server_of(kubeconfig: str, context: str | None = None) -> str:
    config = yaml.safe_load(kubeconfig) or {}
    context = context or config.get("current-context")
    cluster_name = next((c["context"]["cluster"] for c in config.get("contexts", [])
                         if c.get("name") == context), None)
    for cluster in config.get("clusters", []):
        if cluster.get("name") == cluster_name:
            return cluster["cluster"]["server"]
    return ""


@dataclass(frozen=True)
class LocalSettings:
    """What only the local stack reads."""

    kubeconfig_context: str | None
    kubeconfig_path: str
    kind_node_image: str | None


def read_settings(read: Reader) -> LocalSettings:
    """The local-only keys, read with the shared settings' reader."""
    return LocalSettings(
        kubeconfig_context=read.text("localKubeconfigContext"),
        kubeconfig_path=read.text("localKubeconfigPath") or "~/.kube/config",
        kind_node_image=read.text("localKindNodeImage"),
    )


def create_cluster(settings: Settings) -> Cluster:
    local: LocalSettings = settings.provider_settings
    if local.kubeconfig_context:
        return _existing_context(settings, local.kubeconfig_context, local.kubeconfig_path)
    node_image = local.kind_node_image or f"kindest/node:v{settings.kubernetes_version}"

    kind = KindCluster(settings.cluster_name, KindClusterArgs(
        node_image=node_image,
        masters=settings.master_count,
        minions=settings.minion_count,
        pod_cidr=settings.pod_cidr,
        service_cidr=settings.service_cidr,
        published_ports=tuple(sorted(PUBLISHED_NODE_PORTS.values())),
    ))
    return _local_cluster(
        settings,
        api_endpoint=pulumi.Output.unsecret(kind.kubeconfig.apply(_server_of)),
        kubeconfig=kind.kubeconfig,
        provider=kind.provider,
        node_groups=(
            NodeGroupSummary("masters", settings.master_count, settings.master_size, REGION),
            NodeGroupSummary("minions", settings.minion_count, settings.minion_size, REGION),
        ),
    )
